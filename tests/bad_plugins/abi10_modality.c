/* A VALID modality plugin as built against ABI 1.0: the out-of-tree toy (tests/out_of_tree/
 * toy_modality.c) compiled with TOY_ABI_1_0, named "toy10", abi_minor 0, modality table of
 * M2PT_MODALITY_SIZE_1_0 bytes. tests/test_loader.c proves that it loads, passes the
 * conformance suite, trains a classifier and is reported without masked-autoencoder support. */
#define TOY_ABI_1_0 1
#include "../out_of_tree/toy_modality.c"

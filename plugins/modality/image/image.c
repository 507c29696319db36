/* Image modality plugin: Fashion-MNIST (Debian package dataset-fashion-mnist) with a ViT
 * patch tokenizer and a LayerNorm + linear head. This file: the descriptor, configuration,
 * open/close, dataset queries and setup. */
#include "image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define FMNIST_MEAN 0.2860f
#define FMNIST_STD 0.3530f

static const char *const class_names[IMG_CLASSES] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

float *image_alloc_floats(image_inst *m, size_t n) {
    return m->host->alloc(m->ctx, (n ? n : 1) * sizeof(float));
}

/* The host must carry every 1.0 member this plugin calls. */
static int host_usable(const m2pt_host *h) {
    const size_t need = offsetof(m2pt_host, rng_normal) + sizeof h->rng_normal;
    return h && h->abi_major == M2PT_ABI_MAJOR && h->struct_size >= need && h->fail && h->cfg_int &&
           h->cfg_float && h->cfg_bool && h->cfg_str && h->seed && h->param_add && h->param && h->grad &&
           h->alloc && h->linear_forward && h->linear_backward && h->layernorm_forward &&
           h->layernorm_backward && h->rng_seed && h->rng_u64;
}

/* data_dir: config, then $M2PT_DATA_DIR, then the Debian package's directory. */
static int read_dir(image_inst *m) {
    const char *dir = m->host->cfg_str(m->ctx, "data_dir", "");
    const char *env = getenv("M2PT_DATA_DIR");
    if (!dir || !*dir) dir = env && *env ? env : DEFAULT_DIR;
    if (strlen(dir) >= sizeof m->dir) {
        m->host->fail(m->ctx, "data_dir is too long (%zu bytes; at most %zu)", strlen(dir), sizeof m->dir - 1);
        return -1;
    }
    strcpy(m->dir, dir);
    return 0;
}

/* Every supported key is read here (even the setup-time ones) so the host sees them read. */
static int read_config(image_inst *m) {
    const m2pt_host *h = m->host;
    m2pt_ctx *c = m->ctx;
    int rc = read_dir(m);
    m->val_size = h->cfg_int(c, "val_size", 5000, 0, IMG_MAX_COUNT);
    m->train_size = h->cfg_int(c, "train_size", 0, 0, IMG_MAX_COUNT);
    m->test_size = h->cfg_int(c, "test_size", 0, 0, IMG_MAX_COUNT);
    m->normalize = h->cfg_bool(c, "normalize", 1) != 0;
    m->crop_pad = (int)h->cfg_int(c, "aug_crop_pad", 2, 0, IMG_SIDE / 2);
    m->flip = h->cfg_bool(c, "aug_flip", 1) != 0;
    m->patch = (int)h->cfg_int(c, "patch", 4, 1, IMG_SIDE);
    const char *pool = h->cfg_str(c, "pool", "cls");
    if (m->patch < 1 || IMG_SIDE % m->patch) {
        h->fail(c, "patch %d does not divide the image side %d; use 1, 2, 4, 7, 14 or 28", m->patch, IMG_SIDE);
        rc = -1;
    }
    if (!pool || (strcmp(pool, "cls") && strcmp(pool, "mean"))) {
        h->fail(c, "pool \"%s\" is not known; use \"cls\" (class token) or \"mean\" (mean of all tokens)",
                pool ? pool : "(null)");
        rc = -1;
    }
    m->pool_mean = pool && !strcmp(pool, "mean");
    return rc;
}

static int load_pair(image_inst *m, const char *stem, uint8_t **px, uint8_t **lb, long *count) {
    char ip[IMG_PATH_MAX], lp[IMG_PATH_MAX];
    long ni = 0, nl = 0;
    const int a = snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", m->dir, stem);
    const int b = snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", m->dir, stem);
    if (a < 0 || b < 0 || (size_t)a >= sizeof ip || (size_t)b >= sizeof lp) {
        m->host->fail(m->ctx, "data_dir %s makes a path too long", m->dir);
        return -1;
    }
    if (idx_read_images(m, ip, px, &ni) || idx_read_labels(m, lp, lb, &nl)) return -1;
    if (ni != nl) {
        m->host->fail(m->ctx, "%s has %ld images but %s has %ld labels; the dataset is damaged: reinstall "
                      "dataset-fashion-mnist (apt-get install --reinstall dataset-fashion-mnist)", ip, ni, lp, nl);
        return -1;
    }
    *count = ni;
    return 0;
}

static void build_lut(image_inst *m) {
    for (int i = 0; i < 256; i++) {
        const float v = (float)i / 255.0f;
        m->lut[i] = m->normalize ? (v - FMNIST_MEAN) / FMNIST_STD : v;
    }
}

static int image_open(const m2pt_host *host, m2pt_ctx *ctx, void **inst) {
    if (!host_usable(host)) {
        if (host && host->struct_size > offsetof(m2pt_host, fail) && host->fail)
            host->fail(ctx, "the host's API table lacks members this plugin needs (ABI %u.%u)",
                       (unsigned)host->abi_major, (unsigned)host->abi_minor);
        return -1;
    }
    image_inst *m = host->alloc(ctx, sizeof *m);
    if (!m) return -1;
    memset(m, 0, sizeof *m);
    m->host = host;
    m->ctx = ctx;
    m->tok_n = m->head_n = -1;
    if (read_config(m)) return -1;
    build_lut(m);
    if (load_pair(m, "train", &m->train_px, &m->train_lb, &m->train_count) ||
        load_pair(m, "t10k", &m->test_px, &m->test_lb, &m->test_count) || split_build(m))
        return -1;
    m->grid = IMG_SIDE / m->patch;
    m->patches = m->grid * m->grid;
    m->tokens = m->patches + 1;
    m->patch_dim = m->patch * m->patch; /* one channel */
    *inst = m;
    return 0;
}

/* Every buffer came from host->alloc, which the host frees. */
static void image_close(void *inst) { (void)inst; }

static int image_classes(void *inst) {
    (void)inst;
    return IMG_CLASSES;
}

static const char *image_class_name(void *inst, int label) {
    (void)inst;
    return label >= 0 && label < IMG_CLASSES ? class_names[label] : NULL;
}

static long image_split_size(void *inst, m2pt_split_id split) {
    const image_inst *m = inst;
    return (int)split >= 0 && (int)split <= 2 ? m->split_count[split] : -1;
}

static long image_sample_floats(void *inst) {
    (void)inst;
    return IMG_PIXELS;
}

static int image_tokens(void *inst) { return ((const image_inst *)inst)->tokens; }

static int image_setup(void *inst, const m2pt_shape *shape, int max_batch) {
    image_inst *m = inst;
    if (m->set_up) {
        m->host->fail(m->ctx, "setup called twice");
        return -1;
    }
    if (!shape || shape->dim < 1 || shape->dim > IMG_MAX_DIM || max_batch < 1 || max_batch > IMG_MAX_BATCH) {
        m->host->fail(m->ctx, "setup: dim %d and max_batch %d must be in 1..%d and 1..%d", shape ? shape->dim : 0,
                      max_batch, IMG_MAX_DIM, IMG_MAX_BATCH);
        return -1;
    }
    m->dim = shape->dim;
    m->max_batch = max_batch;
    if (tok_setup(m) || head_setup(m)) return -1;
    m->set_up = 1;
    return 0;
}

static const m2pt_modality modality = {
    .struct_size = sizeof(m2pt_modality),
    .open = image_open,
    .close = image_close,
    .classes = image_classes,
    .class_name = image_class_name,
    .split_size = image_split_size,
    .sample_floats = image_sample_floats,
    .fill = image_fill,
    .tokens = image_tokens,
    .setup = image_setup,
    .tokenize = image_tokenize,
    .tokenize_backward = image_tokenize_backward,
    .head = image_head,
    .head_backward = image_head_backward,
    .recon_spec = image_recon_spec,
    .recon_target = image_recon_target,
};

static const m2pt_plugin plugin = {
    .struct_size = sizeof(m2pt_plugin),
    .abi_major = M2PT_ABI_MAJOR,
    .abi_minor = M2PT_ABI_MINOR,
    .kind = M2PT_KIND_MODALITY,
    .name = "image",
    .version = "1.1.0",
    .description = "Fashion-MNIST 28x28 images (dataset-fashion-mnist): patch tokens, class token, LayerNorm + linear head",
    .modality = &modality,
    .pathway = NULL,
};

M2PT_EXPORT const m2pt_plugin *m2pt_plugin_query(uint32_t host_abi_major) {
    return host_abi_major == M2PT_ABI_MAJOR ? &plugin : NULL;
}

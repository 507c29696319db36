#!/usr/bin/env python3
"""Writes the hostile-input corpus of tests/test_hostile.c: broken plugin files, data files and
checkpoints (the broken experiment files are hand-written: tests/experiments/bad/ and
tests/hostile/experiments/). Standard library only. Deterministic: running it again writes the
same bytes, except that checkpoints/valid.ckpt comes from `m2pt train` and changes with the
model code (then everything derived from it changes too; commit them together).

    python3 tests/hostile/make_corpus.py [--m2pt build/m2pt]

Each directory has an EXPECT file: one line per case, `NAME<TAB>words the message must hold`.
The test fails on a file without a line and on a line without a file."""
import argparse
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_expect(dirname, cases):
    with open(os.path.join(dirname, "EXPECT"), "w") as f:
        f.write("# NAME<TAB>text the one-line error message must contain (see tests/test_hostile.c)\n")
        for name, words in sorted(cases.items()):
            f.write(f"{name}\t{words}\n")


def gz(raw):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as g:
        g.write(raw)
    return buf.getvalue()


# ---------------------------------------------------------------------------------- plugins

def plugins():
    # crafted bytes, not build outputs: named .bin (the loader does not look at the suffix)
    d = os.path.join(HERE, "plugins")
    shutil.rmtree(d, ignore_errors=True)
    cases = {}

    def elf_header(cls=2, data=1, etype=3, machine=62):
        ident = b"\x7fELF" + bytes([cls, data, 1, 0]) + b"\0" * 8
        if cls == 2:  # ELF64: e_type .. e_shstrndx, 64 bytes in all
            return ident + struct.pack("<HHIQQQIHHHHHH", etype, machine, 1, 0, 64, 0, 0, 64, 56, 0, 64, 0, 0)
        return ident + struct.pack("<HHIIIIIHHHHHH", etype, machine, 1, 0, 52, 0, 0, 52, 32, 0, 40, 0, 0)

    write(os.path.join(d, "empty.bin"), b"")
    cases["empty.bin"] = "not a shared object"
    write(os.path.join(d, "text.bin"), b"this is not a shared object\n")
    cases["text.bin"] = "not a shared object (no ELF header)"
    write(os.path.join(d, "script.bin"), b"#!/bin/sh\necho plugin\n")
    cases["script.bin"] = "not a shared object"
    write(os.path.join(d, "pe.bin"), b"MZ\x90\x00" + b"\0" * 60 + b"PE\0\0")
    cases["pe.bin"] = "not a shared object"
    write(os.path.join(d, "aarch64.bin"), elf_header(machine=183))
    cases["aarch64.bin"] = "another CPU architecture"
    write(os.path.join(d, "riscv.bin"), elf_header(machine=243))
    cases["riscv.bin"] = "another CPU architecture"
    write(os.path.join(d, "elf32.bin"), elf_header(cls=1, machine=3))
    cases["elf32.bin"] = "32-bit ELF"
    write(os.path.join(d, "bigendian.bin"), elf_header(data=2))
    cases["bigendian.bin"] = "big-endian ELF"
    write(os.path.join(d, "executable.bin"), elf_header(etype=2))
    cases["executable.bin"] = "ELF type is not ET_DYN"
    write(os.path.join(d, "header_only.bin"), elf_header())
    cases["header_only.bin"] = "cannot load shared object"
    write(os.path.join(d, "short.bin"), elf_header()[:12])
    cases["short.bin"] = "truncated ELF header"
    write_expect(d, cases)


# ---------------------------------------------------------------------------------- data

SIDE = 28


def idx_images(n, magic=0x803, rows=SIDE, cols=SIDE, count=None, salt=0):
    head = struct.pack(">IIII", magic, n if count is None else count, rows, cols)
    px = bytearray()
    for i in range(n):  # a class-dependent bar pattern: compresses well, deterministic
        c = i % 10
        for y in range(rows):
            for x in range(cols):
                px.append(255 if (x + y * c + salt) % 10 < 3 else (i * 7 + x) % 32)
    return head + bytes(px)


def idx_labels(n, count=None, bad_at=None):
    labels = bytearray(i % 10 for i in range(n))
    if bad_at is not None:
        labels[bad_at] = 12
    return struct.pack(">II", 0x801, n if count is None else count) + bytes(labels)


def data():
    d = os.path.join(HERE, "data")
    shutil.rmtree(d, ignore_errors=True)
    n_train, n_test = 120, 60
    good = {
        "train-images-idx3-ubyte.gz": gz(idx_images(n_train)),
        "train-labels-idx1-ubyte.gz": gz(idx_labels(n_train)),
        "t10k-images-idx3-ubyte.gz": gz(idx_images(n_test, salt=1)),
        "t10k-labels-idx1-ubyte.gz": gz(idx_labels(n_test)),
    }
    for name, blob in good.items():
        write(os.path.join(d, "good", name), blob)
    ti, tl = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
    ei, el = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
    gi = good[ti]
    flipped = bytearray(gi)
    flipped[len(gi) // 2] ^= 0x5A
    crc_bad = bytearray(good[tl])
    crc_bad[-8] ^= 0x01  # the gzip trailer's CRC32
    cases = {
        # name: (file, bytes, words)
        "truncated_gzip": (ti, gi[: len(gi) // 2], "cannot read the pixels"),
        "truncated_gzip_header": (el, good[el][:5], "cannot read the header"),
        "corrupt_deflate": (ti, bytes(flipped), "the file is damaged"),
        "gzip_crc": (tl, bytes(crc_bad), "incorrect data check"),
        "not_gzip_text": (tl, b"hello, these are not labels\n", "not an IDX label file"),
        "empty": (ei, b"", "cannot read the header"),
        "wrong_magic_images": (ti, gz(idx_labels(n_train)), "not an IDX image file (magic 0x00000801"),
        "wrong_magic_labels": (el, gz(idx_images(n_test)), "not an IDX label file (magic 0x00000803"),
        "wrong_dims": (ei, gz(idx_images(n_test, rows=32, cols=32)), "images are 32x32, expected 28x28"),
        "zero_count": (ei, gz(idx_images(0)), "bad header: 0 images"),
        "huge_count": (ti, gz(idx_images(2, count=0xFFFFFFFF)), "bad header: 4294967295 images"),
        "count_mismatch": (tl, gz(idx_labels(n_train - 1)), "has 120 images but"),
        "count_too_small": (el, gz(idx_labels(n_test, count=n_test - 10)), "unexpected data after the last record"),
        "count_too_large": (ei, gz(idx_images(n_test, count=n_test + 10)), "cannot read the pixels"),
        "label_out_of_range": (tl, gz(idx_labels(n_train, bad_at=17)), "label 12 at index 17 is out of range"),
    }
    for case, (fname, blob, _) in cases.items():
        write(os.path.join(d, case, fname), blob)
    write_expect(d, {case: f"{fname}\t{words}" for case, (fname, _, words) in cases.items()})


# ---------------------------------------------------------------------------------- checkpoints

def parse_ckpt(b):
    magic, version, hlen = struct.unpack_from("<8sII", b, 0)
    header = json.loads(b[16:16 + hlen])
    start = (16 + hlen + 63) // 64 * 64
    return header, b[start:len(b) - 8]


def build_ckpt(header, body, version=1, fix_crc=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    start = (16 + len(h) + 63) // 64 * 64
    out = bytearray(struct.pack("<8sII", b"M2PTCKPT", version, len(h)) + h)
    out += b"\0" * (start - len(out))
    out += body
    out += struct.pack("<I", zlib.crc32(bytes(out)) if fix_crc else 0) + b"M2PE"
    return bytes(out)


def checkpoints(m2pt):
    d = os.path.join(HERE, "checkpoints")
    valid = os.path.join(d, "valid.ckpt")
    if m2pt:
        tmp = tempfile.mkdtemp()
        try:
            subprocess.run([m2pt, "train", "--modality", "image", "--dim", "8", "--depth", "1", "--heads", "2",
                            "--mlp-ratio", "1", "--epochs", "1", "--batch", "32", "--threads", "1",
                            "--set", "modality.train_size=64", "--set", "modality.val_size=10",
                            "--set", "modality.test_size=100", "--out", os.path.join(tmp, "v.ckpt")],
                           check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(tmp, "v.ckpt"), "rb") as f:
                blob = f.read()
        finally:
            shutil.rmtree(tmp)
        shutil.rmtree(d, ignore_errors=True)
        write(valid, blob)
    with open(valid, "rb") as f:
        v = f.read()
    for name in os.listdir(d):
        if name != "valid.ckpt":
            os.unlink(os.path.join(d, name))
    header, body = parse_ckpt(v)
    cases = {}

    def case(name, blob, words):
        write(os.path.join(d, name), blob)
        cases[name] = words

    case("empty.ckpt", b"", "empty file (0 bytes)")
    case("text.ckpt", b"just some text, not a checkpoint at all\n", "bad magic")
    case("magic_prefix.ckpt", v[:3], "truncated")
    case("truncated_preamble.ckpt", v[:10], "truncated")
    case("truncated_header.ckpt", v[:100], "truncated")
    case("truncated_half.ckpt", v[: len(v) // 2], "truncated")
    case("truncated_footer.ckpt", v[:-4], "truncated")
    case("one_byte_more.ckpt", v + b"\0", "size mismatch")
    bad = bytearray(v)
    bad[0] ^= 0x20
    case("wrong_magic.ckpt", bytes(bad), "bad magic")
    case("wrong_version.ckpt", v[:8] + struct.pack("<I", 7) + v[12:], "format version 7")
    case("huge_header_length.ckpt", v[:12] + struct.pack("<I", 0x7FFFFFFF) + v[16:], "exceeds the 16 MiB limit")
    for at, name in ((len(v) - 200, "bitflip_data.ckpt"), (40, "bitflip_header.ckpt"), (len(v) - 6, "bitflip_crc.ckpt")):
        bad = bytearray(v)
        bad[at] ^= 0x04
        case(name, bytes(bad), "checksum mismatch")
    bad = bytearray(v)
    bad[-2] ^= 0x01
    case("bad_footer_magic.ckpt", bytes(bad), "bad footer magic")
    # valid checksums, invalid content
    h = json.loads(json.dumps(header))
    h["tensors"][0]["offset"] = 1 << 40
    case("tensor_outside.ckpt", build_ckpt(h, body), "bad header")
    h = json.loads(json.dumps(header))
    h["tensors"][1]["name"] = h["tensors"][0]["name"]
    case("duplicate_tensor.ckpt", build_ckpt(h, body), "bad header")
    h = json.loads(json.dumps(header))
    h["tensors"][0]["shape"] = [0, 16]
    case("zero_dim.ckpt", build_ckpt(h, body), "bad header")
    h = json.loads(json.dumps(header))
    h["tensors"][0]["shape"] = [65536, 65536, 65536, 65536]
    case("overflowing_shape.ckpt", build_ckpt(h, body), "bad header")
    h = json.loads(json.dumps(header))
    h["format"] = "something-else"
    case("wrong_format.ckpt", build_ckpt(h, body), "bad header")
    blob = bytearray(build_ckpt(header, body))
    hl = struct.unpack_from("<I", blob, 12)[0]
    blob[16 + hl - 1:16 + hl] = b"]"  # the JSON's last '}' replaced: a syntax error, checksum fixed
    blob[-8:-4] = struct.pack("<I", zlib.crc32(bytes(blob[:-8])))
    case("bad_json.ckpt", bytes(blob), "bad header")
    # well-formed files whose tensors do not fit the model they describe
    h = json.loads(json.dumps(header))
    for t in h["tensors"]:
        if t["name"] == "head.weight":
            t["shape"] = list(reversed(t["shape"]))
    case("wrong_shape.ckpt", build_ckpt(h, body), "has shape [8,10] in the checkpoint but [10,8] in the model")
    h = json.loads(json.dumps(header))
    h["config"]["dim"] = 16
    case("config_lies.ckpt", build_ckpt(h, body), "has shape [8,16] in the checkpoint but [16,16] in the model")
    h = json.loads(json.dumps(header))
    h["tensors"] = [t for t in h["tensors"] if t["name"] != "head.bias"]
    case("missing_tensor.ckpt", build_ckpt(h, body), "head.bias")
    h = json.loads(json.dumps(header))
    del h["config"]["modality"]
    case("no_modality.ckpt", build_ckpt(h, body), "not a model checkpoint")
    write_expect(d, cases)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m2pt", help="m2pt binary: rewrite checkpoints/valid.ckpt with `m2pt train`")
    a = ap.parse_args()
    plugins()
    data()
    checkpoints(a.m2pt)


if __name__ == "__main__":
    main()

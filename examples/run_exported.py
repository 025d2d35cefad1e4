#!/usr/bin/env python3
"""Runs models written by fedge-export with plain PyTorch (no fedge code).

    /usr/bin/python3 examples/run_exported.py model.pt [model.int8.pt ...]

Each file's forward takes a [N, 1, 28, 28] float32 tensor in [0, 1] and returns
[N, 10] logits. Prints the predicted classes of a few random inputs. With
--check (used by the test suite) it instead asserts the output shapes and that
every int8 file's logits stay within 3% of the first (float32) file's.
"""
import sys
import zipfile

import torch


def recorded_engine(path):
    """The quantized engine an int8 file was packed for, or None (float32)."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith("/extra/fedge_export.txt"):
                for line in archive.read(name).decode().splitlines():
                    if line.startswith("qengine="):
                        return line[len("qengine="):]
    return None


def load(path):
    """Loads an exported file; int8 ones on the engine they were made for."""
    engine = recorded_engine(path)
    if engine is None:
        return torch.jit.load(path).eval()
    # Loading re-packs the int8 weights for the current engine: choose it
    # first, then tell the module whether that engine needs 7-bit activations.
    if engine not in torch.backends.quantized.supported_engines:
        engine = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    module = torch.jit.load(path).eval()
    module.reduce_range = engine != "qnnpack"
    return module


def main(argv):
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    torch.manual_seed(0)
    x = torch.rand(8, 1, 28, 28)
    reference = None
    for path in paths:
        quantized = recorded_engine(path) is not None
        with torch.inference_mode():
            logits = load(path)(x)
        kind = "int8 (%s)" % torch.backends.quantized.engine if quantized else "float32"
        if not check:
            print("%s [%s]: classes %s" % (path, kind, logits.argmax(1).tolist()))
            continue
        assert logits.shape == (8, 10), "%s: output shape %s" % (path, tuple(logits.shape))
        assert torch.isfinite(logits).all(), "%s: non-finite logits" % path
        if reference is None:
            reference = logits
        else:
            err = (logits - reference).abs().max().item()
            bound = 0.03 * reference.abs().max().item()
            assert err <= bound, "%s: max |int8 - float32| %.4g > %.4g" % (path, err, bound)
        print("%s [%s]: ok" % (path, kind))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

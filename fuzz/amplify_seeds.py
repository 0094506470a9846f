#!/usr/bin/env python3
"""Seeds for the `amplify` fuzz target: deliberately hostile profiles whose one field amplifies.

    fuzz/amplify_seeds.py OUT_DIR [FIXTURE.pb.gz]

- huge-string.pb.gz: a real goroutine profile (FIXTURE, from tests/goservice) with one more string
  in its string table, 1000 MiB of zeros, in about a megabyte of gzip (one compressed MiB of zeros
  repeated as gzip members, as `cat a.gz b.gz` makes). Without a cap on one string and on the
  inflated size of a protobuf profile, it takes 3 GB.
- many-functions.pb.gz: 10,000 functions, each at its own location, all naming one 10 MiB string,
  in tens of KB. Copying and hashing the name per function takes 40 s.
- many-functions-60k.pb.gz: the same with a 60 KiB name (under the cap) named by 200,000
  functions: decoded by string number, it is one copy.
"""
import gzip
import sys
from pathlib import Path


def varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def uint(number: int, v: int) -> bytes:
    return varint(number << 3) + varint(v)


def many_functions(functions: int, name_len: int) -> bytes:
    strings = [b"", b"goroutine", b"count", b"main." + b"x" * name_len, b"main.go"]
    out = bytearray(field(1, uint(1, 1) + uint(2, 2)))  # sample_type goroutine/count
    ids = b"".join(varint(i) for i in range(1, min(functions, 1000) + 1))
    out += field(2, field(1, ids) + field(2, varint(1)))  # one sample naming the first 1000
    for i in range(1, functions + 1):
        out += field(4, uint(1, i) + field(4, uint(1, i) + uint(2, 7)))  # location i: line of function i
        out += field(5, uint(1, i) + uint(2, 3) + uint(3, 3) + uint(4, 4) + uint(5, 1))  # function i
    for s in strings:
        out += field(6, s)
    return gzip.compress(bytes(out), 9)


def huge_string(fixture: Path, mib: int) -> bytes:
    head = gzip.decompress(fixture.read_bytes()) + varint(6 << 3 | 2) + varint(mib << 20)
    member = gzip.compress(bytes(1 << 20), 9)
    return gzip.compress(head, 9) + member * mib


def main() -> None:
    out = Path(sys.argv[1])
    root = Path(__file__).resolve().parent.parent
    fixture = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "tests/fixtures/go127/goroutine-after.pb.gz"
    out.mkdir(parents=True, exist_ok=True)
    (out / "huge-string.pb.gz").write_bytes(huge_string(fixture, 1000))
    (out / "many-functions.pb.gz").write_bytes(many_functions(10_000, 10 << 20))
    (out / "many-functions-60k.pb.gz").write_bytes(many_functions(200_000, 60 << 10))


if __name__ == "__main__":
    main()

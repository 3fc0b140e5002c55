"""The one checked, atomically written cache file (the tokenizer's parsed rank copy and the KV states use it)."""

from __future__ import annotations

from contextwise._paths import read_checked, write_checked


def test_checked_file_round_trips_and_refuses_a_torn_a_flipped_or_a_foreign_file(tmp_path):
    path = tmp_path / "sub" / "state.bin"
    write_checked(path, (b"head", bytearray(b"-body")), magic=b"MAGIC1")
    buffer, start = read_checked(path, magic=b"MAGIC1")
    assert bytes(buffer[start:]) == b"head-body"
    assert read_checked(path, magic=b"OTHER1") is None  # another kind of file
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    assert read_checked(path, magic=b"MAGIC1") is None  # torn
    path.write_bytes(data[:-1] + b"X")
    assert read_checked(path, magic=b"MAGIC1") is None  # flipped
    assert read_checked(tmp_path / "missing") is None
    assert [p.name for p in path.parent.iterdir()] == ["state.bin"]  # no temporary file left behind

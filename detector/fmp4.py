"""Fragmented MP4: finalised MP4 segments appended, without re-encoding, to one file that always plays.

A plain MP4 needs its index (``moov``) written last, so a killed recorder left an
unplayable file. A fragmented MP4 carries a small index per fragment instead; this
module turns each finished segment (a normal MP4 that OpenCV wrote) into one such
fragment. Plain ``struct`` work on the ISO base media file format (ISO/IEC 14496-12);
used by ``detector.video_writer.VideoWriter``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    if len(body) + 8 < 2**32:
        return struct.pack(">I4s", 8 + len(body), kind) + body
    return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _children(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The boxes in ``data[start:end]``: type -> (start of the box, end of the box); the first of each type."""
    found: dict[bytes, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        elif size == 0:
            size = end - pos
        if size < 8 or pos + size > end:
            raise ValueError(f"damaged '{kind.decode('latin-1')}' box")
        found.setdefault(kind, (pos, pos + size))
        pos += size
    return found


def _child(data: bytes, parent: tuple[int, int], *path: bytes) -> tuple[int, int]:
    start, end = parent
    for kind in path:
        header = 8 if struct.unpack_from(">I", data, start)[0] != 1 else 16
        boxes = _children(data, start + header, end)
        if kind not in boxes:
            raise ValueError(f"no '{kind.decode('latin-1')}' box")
        start, end = boxes[kind]
    return start, end


def _payload(data: bytes, box: tuple[int, int]) -> bytes:
    start, end = box
    return data[start + (16 if struct.unpack_from(">I", data, start)[0] == 1 else 8):end]


@dataclass
class _Track:
    """One finalised MP4 (OpenCV's segment) reduced to what a fragment needs."""

    ftyp: bytes
    mvhd: bytes
    tkhd: bytes
    mdhd: bytes
    hdlr: bytes
    minf_head: list[bytes]  # vmhd and dinf
    stsd: bytes
    track_id: int
    timescale: int
    movie_timescale: int
    samples: list[tuple[int, int]]  # (offset in the file, size), in decoding order
    durations: list[int]
    sync: set[int] | None  # None: every sample is a key frame
    composition: list[int] | None


def _entries(payload: bytes, fmt: str) -> list[tuple]:
    """The entries of a sample table (``stts``, ``stsc``, ...): a count after version and flags, then rows."""
    count = struct.unpack_from(">I", payload, 4)[0]
    return list(struct.iter_unpack(fmt, payload[8:8 + count * struct.calcsize(fmt)]))


def _read_track(data: bytes) -> _Track:
    """Parse the single video track of a small, finalised MP4 (raises ``ValueError`` if it is not one)."""
    top = _children(data, 0, len(data))
    if b"moov" not in top or b"ftyp" not in top:
        raise ValueError("the segment has no index (moov)")
    moov = top[b"moov"]
    trak = _child(data, moov, b"trak")
    mdia = _child(data, trak, b"mdia")
    minf = _child(data, mdia, b"minf")
    stbl = _child(data, minf, b"stbl")
    tables = {kind: _payload(data, place) for kind, place in _children(data, stbl[0] + 8, stbl[1]).items()}
    mvhd, tkhd, mdhd = (_payload(data, _child(data, parent, kind))
                        for parent, kind in ((moov, b"mvhd"), (trak, b"tkhd"), (mdia, b"mdhd")))

    stsz = tables[b"stsz"]
    constant, count = struct.unpack_from(">II", stsz, 4)
    sizes = [constant] * count if constant else list(struct.unpack_from(f">{count}I", stsz, 12))
    if b"stco" in tables:
        chunks = [offset for (offset,) in _entries(tables[b"stco"], ">I")]
    else:
        chunks = [offset for (offset,) in _entries(tables[b"co64"], ">Q")]
    runs = _entries(tables[b"stsc"], ">III")  # (first chunk, samples per chunk, description)
    samples: list[tuple[int, int]] = []
    for i, (first, per_chunk, _description) in enumerate(runs):
        last = runs[i + 1][0] - 1 if i + 1 < len(runs) else len(chunks)
        for chunk in range(first - 1, last):
            offset = chunks[chunk]
            for _ in range(per_chunk):
                size = sizes[len(samples)]
                samples.append((offset, size))
                offset += size
    if len(samples) != count or any(o + s > len(data) for o, s in samples):
        raise ValueError("the segment's sample table does not match its data")

    durations = [delta for n, delta in _entries(tables[b"stts"], ">II") for _ in range(n)]
    sync = {n - 1 for (n,) in _entries(tables[b"stss"], ">I")} if b"stss" in tables else None
    composition = None
    if b"ctts" in tables:
        fmt = ">Ii" if tables[b"ctts"][0] == 1 else ">II"
        composition = [offset for n, offset in _entries(tables[b"ctts"], fmt) for _ in range(n)]
    if len(durations) != count or (composition is not None and len(composition) != count):
        raise ValueError("the segment's timing table does not match its samples")

    minf_boxes = _children(data, minf[0] + 8, minf[1])
    return _Track(
        ftyp=data[slice(*top[b"ftyp"])], mvhd=mvhd, tkhd=tkhd, mdhd=mdhd,
        hdlr=data[slice(*_child(data, mdia, b"hdlr"))],
        minf_head=[data[slice(*minf_boxes[k])] for k in (b"vmhd", b"dinf") if k in minf_boxes],
        stsd=data[slice(*_child(data, stbl, b"stsd"))],
        track_id=struct.unpack_from(">I", tkhd, 20 if tkhd[0] == 1 else 12)[0],
        timescale=struct.unpack_from(">I", mdhd, 20 if mdhd[0] == 1 else 12)[0],
        movie_timescale=struct.unpack_from(">I", mvhd, 20 if mvhd[0] == 1 else 12)[0],
        samples=samples, durations=durations, sync=sync, composition=composition,
    )


def _without_duration(payload: bytes, offset_v0: int, offset_v1: int) -> bytes:
    """A full box's payload with its duration field set to 0 (fragments carry the durations)."""
    if payload[0] == 1:
        return payload[:offset_v1] + bytes(8) + payload[offset_v1 + 8:]
    return payload[:offset_v0] + bytes(4) + payload[offset_v0 + 4:]


def _codec_setup(stsd: bytes) -> bytes:
    """The sample description without its bitrates (``btrt``, and those in ``esds``), which vary by segment."""
    at = stsd.find(b"btrt")
    if at >= 4:
        stsd = stsd[:at - 4] + stsd[at - 4 + struct.unpack_from(">I", stsd, at - 4)[0]:]
    at = stsd.find(b"esds")
    if at < 0:
        return stsd
    pos = at + 8  # past the type, version and flags
    for tag, fixed in ((0x03, 3), (0x04, 2 + 3)):  # ES_Descriptor: ES_ID, flags; DecoderConfig: types, bufferSize
        if pos >= len(stsd) or stsd[pos] != tag:
            return stsd
        pos += 1
        while stsd[pos] & 0x80:  # the size, 7 bits a byte
            pos += 1
        pos += 1 + fixed
    return stsd[:pos] + stsd[pos + 8:]  # maxBitrate, avgBitrate


class FragmentedMp4:
    """Finalised MP4 segments appended to one open file as fragments: ``ftyp``, ``moov``, then ``moof``+``mdat``s."""

    def __init__(self, file) -> None:
        self._file = file
        self._first: _Track | None = None
        self._size = 0  # bytes of whole fragments: the file is truncated back to this after a failed append
        self._sequence = 0
        self._fragments = 0  # appended whole
        self._decode_time = 0  # in the track's timescale
        self._mehd_at = 0

    @property
    def empty(self) -> bool:
        return self._fragments == 0

    def append(self, segment: bytes) -> None:
        """Append one finalised MP4; raises ``ValueError`` (not a usable segment) or ``OSError`` (the file).

        The fragment's ``moof`` goes in typed ``free`` and becomes ``moof`` only once its
        ``mdat`` is all written (one 4-byte write): players give up on a file that ends
        inside a ``moof``, so a kill mid-write must leave nothing but a box they skip.
        """
        track = _read_track(segment)
        if not track.samples:
            return
        first = self._first or track
        if _codec_setup(track.stsd) != _codec_setup(first.stsd):
            raise ValueError("the encoder changed its settings between segments")
        head = self._header(track) if self._first is None else b""
        scale = first.timescale / track.timescale if track.timescale else 1.0
        durations = [round(d * scale) for d in track.durations]
        composition = [round(c * scale) for c in track.composition] if track.composition is not None else None
        self._sequence += 1
        moof = self._moof(first.track_id, track, durations, composition, data_offset=0)
        moof = self._moof(first.track_id, track, durations, composition, data_offset=len(moof) + 8)
        payload = b"".join(segment[o:o + s] for o, s in track.samples)
        start = self._size
        self._write(head + moof[:4] + b"free" + moof[8:] + _box(b"mdat", payload))
        try:
            self._file.seek(start + len(head) + 4)
            self._file.write(b"moof")
            self._file.seek(self._size)
        except OSError:
            self._size = start
            self._truncate()
            raise
        self._first = first
        self._fragments += 1
        self._decode_time += sum(durations)
        self._set_duration(first)

    def _write(self, data: bytes) -> None:
        """Write all of ``data`` into the OS (a killed process loses none of it), or none of it."""
        view = memoryview(data)
        try:
            while view:
                written = self._file.write(view)
                view = view[written if written is not None else len(view):]
        except OSError:
            self._truncate()
            raise
        self._size += len(data)

    def _truncate(self) -> None:
        """Cut a half-written fragment off, so the file ends at the last whole one."""
        try:
            fd = self._file.fileno()
            os.ftruncate(fd, self._size)
            os.lseek(fd, self._size, os.SEEK_SET)
        except (OSError, ValueError, AttributeError):
            pass
        try:
            self._file.seek(self._size)
        except (OSError, ValueError, AttributeError):
            pass

    def _header(self, track: _Track) -> bytes:
        brands = track.ftyp[16:]
        extra = b"".join(b for b in (b"iso5", b"iso6") if b not in {brands[i:i + 4] for i in range(0, len(brands), 4)})
        ftyp = track.ftyp[8:] + extra
        mehd = _full_box(b"mehd", 1, 0, bytes(8))  # the total duration, updated after every fragment
        stbl = _box(b"stbl", track.stsd, _full_box(b"stts", 0, 0, bytes(4)), _full_box(b"stsc", 0, 0, bytes(4)),
                    _full_box(b"stsz", 0, 0, bytes(8)), _full_box(b"stco", 0, 0, bytes(4)))
        trak = _box(b"trak",
                    _box(b"tkhd", _without_duration(track.tkhd, 20, 28)),
                    _box(b"mdia", _box(b"mdhd", _without_duration(track.mdhd, 16, 24)), track.hdlr,
                         _box(b"minf", *track.minf_head, stbl)))
        mvex = _box(b"mvex", mehd, _full_box(b"trex", 0, 0, struct.pack(">IIIII", track.track_id, 1, 0, 0, 0)))
        moov = _box(b"moov", _box(b"mvhd", _without_duration(track.mvhd, 16, 24)), trak, mvex)
        head = _box(b"ftyp", ftyp)
        self._mehd_at = len(head) + moov.index(mehd) + 12  # where the 8-byte duration sits in the file
        return head + moov

    def _moof(self, track_id: int, track: _Track, durations: list[int], composition: list[int] | None,
              data_offset: int) -> bytes:
        flags = 0x000001 | 0x000100 | 0x000200 | 0x000400 | (0x000800 if composition is not None else 0)
        rows = []
        for i, (_offset, size) in enumerate(track.samples):
            key = track.sync is None or i in track.sync
            row = struct.pack(">III", durations[i], size, 0x02000000 if key else 0x01010000)
            rows.append(row + (struct.pack(">i", composition[i]) if composition is not None else b""))
        trun = _full_box(b"trun", 1 if composition is not None else 0, flags,
                         struct.pack(">Ii", len(rows), data_offset), *rows)
        traf = _box(b"traf", _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", track_id)),  # default-base-is-moof
                    _full_box(b"tfdt", 1, 0, struct.pack(">Q", self._decode_time)), trun)
        return _box(b"moof", _full_box(b"mfhd", 0, 0, struct.pack(">I", self._sequence)), traf)

    def _set_duration(self, track: _Track) -> None:
        """Write the duration so far into ``mehd`` (8 bytes in place), for players that show it before playing."""
        duration = self._decode_time * track.movie_timescale // max(1, track.timescale)
        try:
            self._file.seek(self._mehd_at)
            self._file.write(struct.pack(">Q", duration))  # 8 bytes that exist already: no new space needed
            self._file.seek(self._size)
        except OSError:
            self._truncate()  # the fragment is in; only the advertised duration is stale

"""A picture's metadata carried from input to output: the colour profile (ICC), EXIF and XMP.

OpenCV reads and writes pixels only, so ``run photo.jpg -o sharp.png`` would otherwise drop the
camera's EXIF (date, GPS position, camera and lens, exposure), the XMP and, worse for the eye, the
ICC colour profile: a phone's Display P3 or a camera's Adobe RGB photo shown without its profile is
read as sRGB and comes out dull. The blocks are read from the input's bytes and written into the
encoded output's bytes, unchanged but for two things about the pixels that changed: the EXIF
orientation becomes 1 (upright), since the reader turned the pixels upright, and the EXIF thumbnail
is unlinked (a blurry, unturned copy of the input).

Read from JPEG, PNG, WebP and TIFF (its camera tags and EXIF/GPS IFDs rebuilt as an EXIF block);
written into JPEG, PNG and WebP. Any
other combination that would lose a block says so (:func:`carry`'s warnings). Pure byte handling,
no dependency: the formats' own containers (JPEG APP segments, PNG chunks, WebP's RIFF chunks).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

_ICC_SIG = b"ICC_PROFILE\0"
_EXIF_SIG = b"Exif\0\0"
_XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
_XMP_PNG_KEY = b"XML:com.adobe.xmp"
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_ORIENTATION = 0x0112
_TIFF_ICC = 34675
#: the formats whose metadata blocks are written (by their extension)
WRITES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class PictureMeta:
    """The metadata blocks of a picture, as bytes: the ICC profile, the EXIF's TIFF structure
    (without JPEG's ``Exif\\0\\0`` prefix) and the XMP packet; None where the picture has none."""

    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None

    def names(self) -> list[str]:
        return [n for n, v in (("ICC colour profile", self.icc), ("EXIF", self.exif), ("XMP", self.xmp)) if v]


def read_meta(data: bytes) -> PictureMeta:
    """The blocks of an encoded picture (JPEG, PNG, WebP; TIFF: the ICC profile). Damaged or
    unknown containers give what could be read, never an error: the pixels decoded already."""
    try:
        if data[:2] == b"\xff\xd8":
            return _jpeg_meta(data)
        if data[:8] == _PNG_SIG:
            return _png_meta(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_meta(data)
        if data[:4] in (b"II*\0", b"MM\0*"):
            return _tiff_meta(data)
    except (IndexError, struct.error, zlib.error, ValueError):
        pass
    return PictureMeta()


def _jpeg_meta(d: bytes) -> PictureMeta:
    icc: dict[int, bytes] = {}
    exif = xmp = None
    i = 2
    while i + 4 <= len(d) and d[i] == 0xFF:
        marker = d[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        if marker == 0xDA:  # start of scan: the metadata segments come before it
            break
        (n,) = struct.unpack(">H", d[i + 2 : i + 4])
        body = d[i + 4 : i + 2 + n]
        if marker == 0xE1 and body.startswith(_EXIF_SIG) and exif is None:
            exif = body[len(_EXIF_SIG) :]
        elif marker == 0xE1 and body.startswith(_XMP_SIG) and xmp is None:
            xmp = body[len(_XMP_SIG) :]
        elif marker == 0xE2 and body.startswith(_ICC_SIG) and len(body) > 14:
            icc[body[12]] = body[14:]
        i += 2 + n
    profile = b"".join(icc[k] for k in sorted(icc)) if icc else None
    return PictureMeta(profile, exif or None, xmp or None)


def _png_chunks(d: bytes):
    i = 8
    while i + 8 <= len(d):
        (n,) = struct.unpack(">I", d[i : i + 4])
        kind = d[i + 4 : i + 8]
        yield i, kind, d[i + 8 : i + 8 + n]
        if kind == b"IEND":
            return
        i += 12 + n


def _png_meta(d: bytes) -> PictureMeta:
    icc = exif = xmp = None
    for _, kind, body in _png_chunks(d):
        if kind == b"iCCP":
            name_end = body.index(b"\0")
            icc = zlib.decompress(body[name_end + 2 :])
        elif kind == b"eXIf":
            exif = body[len(_EXIF_SIG) :] if body.startswith(_EXIF_SIG) else body
        elif kind == b"iTXt" and body.startswith(_XMP_PNG_KEY + b"\0"):
            rest = body[len(_XMP_PNG_KEY) + 1 :]
            compressed = rest[0] == 1
            rest = rest[2:]
            rest = rest[rest.index(b"\0") + 1 :]  # language tag
            rest = rest[rest.index(b"\0") + 1 :]  # translated keyword
            xmp = zlib.decompress(rest) if compressed else rest
    return PictureMeta(icc or None, exif or None, xmp or None)


def _webp_meta(d: bytes) -> PictureMeta:
    found: dict[bytes, bytes] = {}
    i = 12
    while i + 8 <= len(d):
        kind = d[i : i + 4]
        (n,) = struct.unpack("<I", d[i + 4 : i + 8])
        if kind in (b"ICCP", b"EXIF", b"XMP "):
            found[kind] = d[i + 8 : i + 8 + n]
        i += 8 + n + (n & 1)
    exif = found.get(b"EXIF")
    if exif and exif.startswith(_EXIF_SIG):
        exif = exif[len(_EXIF_SIG) :]
    return PictureMeta(found.get(b"ICCP") or None, exif or None, found.get(b"XMP ") or None)


def _tiff_icc(d: bytes) -> bytes | None:
    e = "<" if d[:2] == b"II" else ">"
    (ifd,) = struct.unpack(e + "I", d[4:8])
    (count,) = struct.unpack(e + "H", d[ifd : ifd + 2])
    for k in range(count):
        tag, _, n, off = struct.unpack(e + "HHII", d[ifd + 2 + 12 * k : ifd + 14 + 12 * k])
        if tag == _TIFF_ICC:
            return d[off : off + n] if n > 4 else None
    return None


#: bytes per value of each TIFF field type (BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED, SSHORT,
#: SLONG, SRATIONAL, FLOAT, DOUBLE, IFD)
_TIFF_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
#: the TIFF IFD0 tags that are EXIF's (the picture's description, camera, resolution, software, date,
#: artist, copyright); the others describe the TIFF's own pixel layout, which the output does not have
_TIFF_IFD0_EXIF = (270, 271, 272, 282, 283, 296, 305, 306, 315, 33432)
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD, _TIFF_XMP = 34665, 34853, 40965, 700

_Entry = tuple[int, int, int, bytes]  # tag, type, count, the value's bytes (in the file's byte order)


def _tiff_ifd(d: bytes, e: str, at: int) -> list[_Entry]:
    (count,) = struct.unpack_from(e + "H", d, at)
    entries = []
    for k in range(count):
        tag, kind, n = struct.unpack_from(e + "HHI", d, at + 2 + 12 * k)
        size = _TIFF_TYPE_SIZE.get(kind, 0) * n
        if not size:
            continue
        if size <= 4:
            value = d[at + 10 + 12 * k : at + 10 + 12 * k + size]
        else:
            (ptr,) = struct.unpack_from(e + "I", d, at + 10 + 12 * k)
            value = d[ptr : ptr + size]
            if len(value) != size:
                continue  # points outside the file: left out
        entries.append((tag, kind, n, value))
    return entries


def _tiff_meta(d: bytes) -> PictureMeta:
    """A TIFF's ICC profile, its XMP (tag 700) and its EXIF as a JPEG's EXIF block: the camera tags of
    IFD0 with its EXIF and GPS IFDs (the pixel layout tags, the interoperability IFD and any thumbnail
    left out)."""
    e = "<" if d[:2] == b"II" else ">"
    (ifd0,) = struct.unpack_from(e + "I", d, 4)
    top = {t: (t, k, n, v) for t, k, n, v in _tiff_ifd(d, e, ifd0)}
    xmp = top[_TIFF_XMP][3] if _TIFF_XMP in top else None
    subs: dict[int, list[_Entry]] = {}
    for tag in (_EXIF_IFD, _GPS_IFD):
        if tag in top and top[tag][1] in (4, 13):
            (at,) = struct.unpack(e + "I", top[tag][3][:4])
            subs[tag] = [x for x in _tiff_ifd(d, e, at) if x[0] != _INTEROP_IFD]
    kept = [top[t] for t in _TIFF_IFD0_EXIF if t in top]
    exif = _tiff_structure(e, kept, subs) if kept or subs else None
    return PictureMeta(icc=_tiff_icc(d), exif=exif, xmp=xmp or None)


def _tiff_structure(e: str, ifd0: list[_Entry], subs: dict[int, list[_Entry]]) -> bytes:
    """An EXIF block (a TIFF structure): ``ifd0``'s entries and pointers to the ``subs`` IFDs (tag ->
    entries), each IFD followed by the values too long for its entries, every offset recomputed."""

    def size(entries: list[_Entry]) -> int:
        return 2 + 12 * len(entries) + 4 + sum(len(v) + (len(v) & 1) for *_, v in entries if len(v) > 4)

    top = ifd0 + [(tag, 4, 1, b"\0\0\0\0") for tag in subs]
    order = [(key, sorted(entries, key=lambda x: x[0])) for key, entries in [(0, top), *subs.items()]]
    at, pos = {}, 8
    for key, entries in order:  # IFD0 at 8, each sub-IFD after the one before (all even sizes)
        at[key], pos = pos, pos + size(entries)
    out = bytearray((b"II*\0" if e == "<" else b"MM\0*") + struct.pack(e + "I", 8))
    for key, entries in order:
        data_at = at[key] + 2 + 12 * len(entries) + 4
        head, data = bytearray(struct.pack(e + "H", len(entries))), bytearray()
        for tag, kind, n, value in entries:
            if key == 0 and tag in subs:
                value = struct.pack(e + "I", at[tag])
            if len(value) > 4:
                head += struct.pack(e + "HHII", tag, kind, n, data_at + len(data))
                data += value + b"\0" * (len(value) & 1)
            else:
                head += struct.pack(e + "HHI", tag, kind, n) + value.ljust(4, b"\0")
        out += head + struct.pack(e + "I", 0) + data
    return bytes(out)


def upright_exif(exif: bytes) -> bytes:
    """``exif`` with its orientation set to 1 (the pixels were turned upright) and its thumbnail
    unlinked (IFD0's next-IFD offset 0). Unparseable EXIF comes back unchanged."""
    b = bytearray(exif)
    try:
        e = "<" if b[:2] == b"II" else ">"
        (ifd,) = struct.unpack_from(e + "I", b, 4)
        (count,) = struct.unpack_from(e + "H", b, ifd)
        for k in range(count):
            at = ifd + 2 + 12 * k
            tag, kind = struct.unpack_from(e + "HH", b, at)
            if tag == _ORIENTATION and kind == 3:  # SHORT, the value in the entry itself
                struct.pack_into(e + "H", b, at + 8, 1)
        struct.pack_into(e + "I", b, ifd + 2 + 12 * count, 0)
    except struct.error:
        return exif
    return bytes(b)


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def _into_jpeg(d: bytes, m: PictureMeta) -> tuple[bytes, list[str]]:
    lost: list[str] = []
    segs = b""
    if m.exif:
        if len(m.exif) + len(_EXIF_SIG) <= 65533:
            segs += _segment(0xE1, _EXIF_SIG + m.exif)
        else:
            lost.append("EXIF (over the 64 KB a JPEG segment holds)")
    if m.xmp:
        if len(m.xmp) + len(_XMP_SIG) <= 65533:
            segs += _segment(0xE1, _XMP_SIG + m.xmp)
        else:
            lost.append("XMP (over the 64 KB a JPEG segment holds)")
    if m.icc:
        size = 65533 - 14
        parts = [m.icc[k : k + size] for k in range(0, len(m.icc), size)]
        if len(parts) <= 255:
            segs += b"".join(_segment(0xE2, _ICC_SIG + bytes((n + 1, len(parts))) + p) for n, p in enumerate(parts))
        else:  # pragma: no cover - a 16 MB profile
            lost.append("ICC colour profile (too large for JPEG)")
    at = 2
    if d[2:4] == b"\xff\xe0":  # after JFIF's APP0, which must come first
        at = 4 + struct.unpack(">H", d[4:6])[0]
    return d[:at] + segs + d[at:], lost


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _into_png(d: bytes, m: PictureMeta) -> tuple[bytes, list[str]]:
    extra = b""
    if m.icc:
        extra += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(m.icc))
    if m.exif:
        extra += _png_chunk(b"eXIf", m.exif)
    if m.xmp:
        extra += _png_chunk(b"iTXt", _XMP_PNG_KEY + b"\0\0\0\0\0" + m.xmp)
    at = next(i for i, kind, _ in _png_chunks(d) if kind != b"IHDR")  # right after the header
    drop = {b"sRGB", b"gAMA", b"cHRM"} if m.icc else set()  # the profile replaces them
    rest = b"".join(d[i : i + 12 + len(body)] for i, kind, body in _png_chunks(d) if i >= at and kind not in drop)
    return d[:at] + extra + rest, []


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _into_webp(d: bytes, m: PictureMeta, width: int, height: int) -> tuple[bytes, list[str]]:
    chunks: list[tuple[bytes, bytes]] = []
    i = 12
    while i + 8 <= len(d):
        kind = d[i : i + 4]
        (n,) = struct.unpack("<I", d[i + 4 : i + 8])
        chunks.append((kind, d[i + 8 : i + 8 + n]))
        i += 8 + n + (n & 1)
    flags = 0
    image = [c for c in chunks if c[0] in (b"VP8 ", b"VP8L", b"ALPH")]
    head = [c for c in chunks if c[0] == b"VP8X"]
    if head:
        flags = head[0][1][0] & 0x12  # keep alpha / animation
    flags |= (0x20 if m.icc else 0) | (0x08 if m.exif else 0) | (0x04 if m.xmp else 0)
    vp8x = bytes((flags, 0, 0, 0)) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = _riff_chunk(b"VP8X", vp8x)
    if m.icc:
        body += _riff_chunk(b"ICCP", m.icc)
    body += b"".join(_riff_chunk(k, v) for k, v in image)
    if m.exif:
        body += _riff_chunk(b"EXIF", m.exif)
    if m.xmp:
        body += _riff_chunk(b"XMP ", m.xmp)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body, []


def carry(meta: PictureMeta, encoded: bytes, ext: str, width: int, height: int) -> tuple[bytes, list[str]]:
    """``encoded`` (a picture OpenCV wrote for extension ``ext``) with ``meta``'s blocks written into
    it (the EXIF made upright, :func:`upright_exif`); and a warning for each block that could not go."""
    if not meta.names():
        return encoded, []
    if meta.exif:
        meta = PictureMeta(meta.icc, upright_exif(meta.exif), meta.xmp)
    ext = ext.lower()
    if ext in (".jpg", ".jpeg"):
        out, lost = _into_jpeg(encoded, meta)
    elif ext == ".png":
        out, lost = _into_png(encoded, meta)
    elif ext == ".webp":
        out, lost = _into_webp(encoded, meta, width, height)
    else:
        return encoded, [
            f"the input's {' and '.join(meta.names())} cannot be written into {ext} here: "
            f"not copied ({', '.join(WRITES)} keep them)"
        ]
    return out, [f"the input's {name} is not copied" for name in lost]

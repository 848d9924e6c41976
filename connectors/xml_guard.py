"""Parser options and DTD refusal for XML that arrives from other schools and systems.

A DOCTYPE is the door to every XML entity attack: entity-expansion bombs, external entities that
copy a local file into a field, and external DTDs or parameter entities that make the parser open
a URL. No MIS export needs one, so any ``<!DOCTYPE`` or ``<!ENTITY`` is refused before libxml2 reads
the file, and again if libxml2 reports a DOCTYPE that the prologue scan missed. The parser options
below would also block those attacks, but their defaults have changed between lxml releases, so
the refusal makes the outcome the same on every version.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from sync_agent.errors import InputRefused

DTD_REFUSAL = (
    "DTD/entity declarations are not allowed in XML input; ask the sender for an export "
    "without a <!DOCTYPE> or <!ENTITY> declaration (MIS exports do not need one)"
)

# lxml.etree.XMLPullParser and iterparse accept every keyword below (checked against lxml 6.2.0).
# They are passed explicitly because defaults differ between releases: before 6.1, iterparse
# resolved external entities by default. Without huge_tree, libxml2 refuses nesting
# deeper than 256 elements and text nodes longer than 10,000,000 bytes.
PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

_CHUNK_BYTES = 64 * 1024
_MAX_PROLOGUE_BYTES = 1024 * 1024
# The name of a start tag, prefix included. A tag cut off by the end of the text does not match.
_START_TAG_NAME = re.compile(r"<([^\s/>!?<]+)[\s/>]")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")

_BOMS = (
    # UTF-32 comes first because its marks begin with the UTF-16 ones.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Without a byte-order mark: "<" or "<?" as each encoding writes it (XML 1.0, appendix F).
_UNMARKED_STARTS = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"\x4c\x6f\xa7\x94", "cp037"),
)


def sniff_prologue_encoding(head: bytes) -> tuple[str, int]:
    """Return the codec that decodes the prologue and the length of the byte-order mark, if any."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    for start, encoding in _UNMARKED_STARTS:
        if head.startswith(start):
            return encoding, 0

    # An ASCII-compatible byte stream: all prologue markup is ASCII, so Latin-1 finds the same
    # declarations when the declared codec is unknown to Python or contradicts the bytes (a
    # "UTF-16" declaration in an 8-bit file).
    match = _DECLARED_ENCODING.match(head)
    if match is None:
        return "utf-8", 0
    try:
        codec = codecs.lookup(match.group(1).decode("ascii"))
    except LookupError:
        return "latin-1", 0
    if codec.name.startswith(("utf-16", "utf-32")):
        return "latin-1", 0
    return codec.name, 0


def _scan_prologue(text: str) -> bool | int | None:
    """Return True at a markup declaration, the offset of the root element's start tag, or None.

    None means the text ends first. A markup declaration is any ``<!`` other than a comment:
    ``<!DOCTYPE``, ``<!ENTITY`` and the like. Anything else that is not prologue markup also
    returns its offset and is left to the parser.
    """
    position = 0
    length = len(text)
    while True:
        while position < length and text[position] in " \t\r\n\ufeff":
            position += 1
        if position >= length:
            return None
        if text.startswith("<?", position):
            end = text.find("?>", position + 2)
            if end < 0:
                return None
            position = end + 2
        elif length - position < 4 and "<!--".startswith(text[position:]):
            return None  # the text ends inside "<!--", "<!" or "<?"
        elif text.startswith("<!--", position):
            end = text.find("-->", position + 4)
            if end < 0:
                return None
            position = end + 3
        elif text.startswith("<!", position):
            return True
        else:
            return position


def refuse_dtd_in_prologue(path: Path, handle: BinaryIO) -> str | None:
    """Raise InputRefused if the text before the root element contains a DOCTYPE or ENTITY.

    The prologue is decoded according to its byte-order mark or XML declaration, so a
    declaration in a UTF-16 or UTF-32 file is found too. Leaves ``handle`` at offset 0.

    Returns the local name of the root element, or None when no name can be read there. That
    happens when the text is not a start tag (the parser then reports the error) or when the
    name is cut off at the end of the bytes read.
    """
    head = handle.read(_CHUNK_BYTES)
    encoding, bom_length = sniff_prologue_encoding(head)
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(head[bom_length:])
    consumed = len(head)
    while True:
        verdict = _scan_prologue(text)
        if verdict is True:
            raise InputRefused(str(path), DTD_REFUSAL)
        if verdict is not None:
            handle.seek(0)
            return _root_local_name(text, verdict)
        chunk = handle.read(_CHUNK_BYTES)
        if not chunk:
            break
        consumed += len(chunk)
        if consumed > _MAX_PROLOGUE_BYTES:
            raise InputRefused(
                str(path),
                f"the XML prologue (the text before the root element) is longer than "
                f"{_MAX_PROLOGUE_BYTES} bytes; check that this is the right file",
            )
        text += decoder.decode(chunk)
    handle.seek(0)
    return None


def _root_local_name(text: str, offset: int) -> str | None:
    match = _START_TAG_NAME.match(text, offset)
    return match.group(1).rpartition(":")[2] if match else None


def refuse_parsed_doctype(path: Path, root: etree._Element) -> None:
    """Raise InputRefused if libxml2 parsed a DOCTYPE; call it at the first parser event."""
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InputRefused(str(path), f"line {root.sourceline}: {DTD_REFUSAL}")

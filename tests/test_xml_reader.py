"""Tests for the streaming XML reader: paths, shapes, hostile input and memory."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from sync_agent.connectors import xml_reader
from sync_agent.connectors.rawtable import LINE_COLUMN
from sync_agent.connectors.xml_guard import DTD_REFUSAL
from sync_agent.connectors.xml_reader import read_xml
from sync_agent.errors import InputRefused, MappingError

XXE_CASE = Path(__file__).parent / "data" / "cases" / "15-xml-xxe-external-entity"
DTD_MESSAGE = "DTD/entity declarations are not allowed in XML input"

CTF_FIELDS = {
    "upn": ["../../UPN"],
    "surname": ["../../Surname"],
    "start_date": ["StartDate"],
    "category": ["Category"],
    "reason_1": ["Reasons/Reason[1]", "Reason"],
    "sessions": ["Sessions"],
}


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def ctf(pupils: str, root_attributes: str = "", prefix: str = "") -> str:
    """Return a small CTF-like document around the given pupil elements."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ctf_root(pupils, root_attributes, prefix)


def ctf_root(pupils: str, root_attributes: str = "", prefix: str = "") -> str:
    """Return the root element of ``ctf``, to follow a test's own prologue."""
    p = f"{prefix}:" if prefix else ""
    return (
        f"<{p}CTfile{root_attributes}>\n"
        f"<{p}Header><{p}SourceSchool><{p}LEA>801</{p}LEA></{p}SourceSchool></{p}Header>\n"
        f"<{p}CTFpupilData>\n{pupils}</{p}CTFpupilData>\n"
        f"</{p}CTfile>\n"
    )


@pytest.fixture
def no_sockets(monkeypatch):
    """Fail the test if anything opens a network connection."""

    def refuse(self, address, *args, **kwargs):
        pytest.fail(f"a socket connection to {address!r} was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def hostname() -> str | None:
    path = Path("/etc/hostname")
    if path.exists():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def assert_refused_as_dtd(path: Path, **kwargs) -> InputRefused:
    with pytest.raises(InputRefused) as caught:
        read_xml(path, record_path="Exclusion", fields={"start_date": ["StartDate"]}, **kwargs)
    assert DTD_MESSAGE in str(caught.value)
    assert path.name in str(caught.value)
    return caught.value


# --- the hostile CTF files ------------------------------------------------------------------


@pytest.mark.parametrize(
    "file_name",
    [
        "ctf_xxe_local_file.xml",
        "ctf_external_dtd_loopback.xml",
        "ctf_parameter_entity_loopback.xml",
    ],
)
def test_hostile_ctf_files_refused(file_name, no_sockets, hostname, caplog):
    caplog.set_level(logging.DEBUG)

    error = assert_refused_as_dtd(XXE_CASE / file_name)

    assert error.reason.startswith(DTD_REFUSAL)
    if hostname:
        assert hostname not in str(error)
        assert hostname not in caplog.text


def test_clean_control_file_reads_three_exclusions(no_sockets):
    table = read_xml(
        XXE_CASE / "ctf_clean_control.xml",
        record_path="Pupil/Exclusions/Exclusion",
        fields=CTF_FIELDS,
    )

    frame = table.frame
    assert list(frame["upn"]) == ["D801999924001", "D801999924001", "K801999924005"]
    assert list(frame["surname"]) == ["Ashworth", "Ashworth", "Halloway"]
    assert list(frame["start_date"]) == ["2024-03-04", "2024-06-24", "2024-02-05"]
    assert list(frame["category"]) == ["FIXD", "FIXD", "PERM"]
    assert list(frame["reason_1"]) == ["DB", "VA", "PA"]
    assert list(frame["sessions"]) == ["4", "2", ""]
    assert list(frame[LINE_COLUMN]) == [17, 23, 37]
    assert frame["upn"].nunique() == 2


# --- hostile families, written by the tests ----------------------------------------------


def test_billion_laughs_refused(tmp_path, no_sockets):
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    path = write(
        tmp_path / "laughs.xml",
        '<?xml version="1.0"?>\n<!DOCTYPE CTfile [\n'
        + "\n".join(entities)
        + "\n]>\n"
        + ctf_root("<Pupil><Surname>&lol9;</Surname></Pupil>\n"),
    )

    error = assert_refused_as_dtd(path)

    assert "lollol" not in str(error)


def test_external_entity_file_never_read(tmp_path, no_sockets, caplog):
    caplog.set_level(logging.DEBUG)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-4711", encoding="utf-8")
    path = write(
        tmp_path / "xxe.xml",
        f'<?xml version="1.0"?>\n<!DOCTYPE CTfile [<!ENTITY leak SYSTEM "{secret.as_uri()}">]>\n'
        + ctf_root("<Pupil><UPN>&leak;</UPN><Exclusions><Exclusion><StartDate>&leak;</StartDate>"
              "</Exclusion></Exclusions></Pupil>\n"),
    )

    error = assert_refused_as_dtd(path)

    assert "TOP-SECRET" not in str(error)
    assert "TOP-SECRET" not in repr(error.__cause__)
    assert "TOP-SECRET" not in caplog.text


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.requests.append(self.path)
        body = b'<!ENTITY leak "FETCHED-FROM-SERVER">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def dtd_server():
    """A real HTTP server on 127.0.0.1 that records every request it receives."""
    _RecordingHandler.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _RecordingHandler.requests
    server.shutdown()
    server.server_close()
    thread.join()


def test_external_dtd_on_loopback_never_fetched(tmp_path, dtd_server):
    base_url, requests = dtd_server
    path = write(
        tmp_path / "external_dtd.xml",
        f'<?xml version="1.0"?>\n<!DOCTYPE CTfile SYSTEM "{base_url}/ctf.dtd">\n'
        + ctf_root("<Pupil><Surname>&leak;</Surname></Pupil>\n"),
    )

    error = assert_refused_as_dtd(path)

    assert requests == []
    assert "FETCHED-FROM-SERVER" not in str(error)


def test_parameter_entity_never_fetched(tmp_path, dtd_server):
    base_url, requests = dtd_server
    path = write(
        tmp_path / "parameter_entity.xml",
        '<?xml version="1.0"?>\n<!DOCTYPE CTfile [\n'
        f'  <!ENTITY % remote SYSTEM "{base_url}/evil.ent">\n  %remote;\n]>\n'
        + ctf_root("<Pupil><Surname>&leak;</Surname></Pupil>\n"),
    )

    assert_refused_as_dtd(path)

    assert requests == []


def test_dtd_refused_when_prologue_scan_bypassed(tmp_path, dtd_server, monkeypatch):
    base_url, requests = dtd_server
    monkeypatch.setattr(xml_reader, "refuse_dtd_in_prologue", lambda path, handle: None)
    path = write(
        tmp_path / "parameter_entity.xml",
        '<?xml version="1.0"?>\n<!DOCTYPE CTfile [\n'
        f'  <!ENTITY % remote SYSTEM "{base_url}/evil.ent">\n  %remote;\n]>\n'
        + ctf_root("<Pupil><Exclusions><Exclusion><StartDate>2024-01-08</StartDate></Exclusion>"
              "</Exclusions></Pupil>\n"),
    )

    error = assert_refused_as_dtd(path)

    assert "line 6" in str(error)
    assert requests == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_doctype_refused(tmp_path, no_sockets, encoding):
    declared = "UTF-32" if encoding.startswith("utf-32") else "UTF-16"
    path = write(
        tmp_path / f"{encoding}.xml",
        f'<?xml version="1.0" encoding="{declared}"?>\n'
        '<!DOCTYPE CTfile [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n'
        + ctf_root("<Pupil><Surname>&x;</Surname></Pupil>\n"),
        encoding=encoding,
    )

    assert_refused_as_dtd(path)


def test_doctype_after_long_comment_refused(tmp_path, no_sockets):
    path = write(
        tmp_path / "comment_first.xml",
        '<?xml version="1.0"?>\n<!-- ' + "padding " * 20_000 + "-->\n"
        "<!DOCTYPE CTfile [<!ENTITY x \"y\">]>\n" + ctf_root(""),
    )

    assert_refused_as_dtd(path)


def test_huge_text_node_refused(tmp_path):
    path = write(
        tmp_path / "huge.xml",
        ctf("<Pupil>\n<UPN>A1</UPN>\n<Exclusions>\n<Exclusion>\n"
            f"<StartDate>{'9' * 2_000_000}</StartDate>\n</Exclusion></Exclusions></Pupil>\n"),
    )

    with pytest.raises(InputRefused) as caught:
        read_xml(path, record_path="Exclusion", fields={"start_date": ["StartDate"]})

    message = str(caught.value)
    assert "huge.xml" in message
    assert "line 9" in message
    assert "more than 1000000 bytes" in message
    assert "<StartDate>" in message


def test_huge_text_in_unread_element_refused(tmp_path):
    path = write(
        tmp_path / "huge_note.xml",
        ctf(f"<Pupil><Notes>{'x' * 600_000}</Notes></Pupil>\n"),
    )

    with pytest.raises(InputRefused) as caught:
        read_xml(
            path,
            record_path="Exclusion",
            fields={"start_date": ["StartDate"]},
            max_text_bytes=500_000,
        )

    assert "line 5" in str(caught.value)
    assert "<Notes>" in str(caught.value)


def test_huge_text_after_element_refused(tmp_path):
    path = write(
        tmp_path / "huge_tail.xml",
        ctf(f"<Pupil><UPN>A1</UPN>{'x' * 600_000}</Pupil>\n"),
    )

    with pytest.raises(InputRefused) as caught:
        read_xml(
            path,
            record_path="Exclusion",
            fields={"start_date": ["StartDate"]},
            max_text_bytes=500_000,
        )

    assert "line 5" in str(caught.value)
    assert "text after element <UPN>" in str(caught.value)


def test_huge_text_in_later_chunk_refused(tmp_path):
    padding = "".join(
        f"<Pupil><UPN>A{number:012d}</UPN><Notes>{'n' * 200}</Notes></Pupil>\n"
        for number in range(2_000)
    )
    path = write(
        tmp_path / "late_huge.xml",
        ctf(padding + f"<Pupil><Notes>{'x' * 2_000}</Notes></Pupil>\n"),
    )

    with pytest.raises(InputRefused) as caught:
        read_xml(path, record_path="Exclusion", fields={"d": ["StartDate"]}, max_text_bytes=1_000)

    assert "line 2005" in str(caught.value)
    assert "<Notes>" in str(caught.value)


def test_multibyte_text_limit_counts_bytes(tmp_path):
    path = write(tmp_path / "pounds.xml", ctf(f"<Pupil><Notes>{'£' * 300}</Notes></Pupil>\n"))

    with pytest.raises(InputRefused, match="more than 500 bytes"):
        read_xml(path, record_path="Exclusion", fields={"x": ["Notes"]}, max_text_bytes=500)


def test_deep_nesting_refused(tmp_path):
    path = write(tmp_path / "deep.xml", "<a>" * 10_000 + "x" + "</a>" * 10_000)

    with pytest.raises(InputRefused) as caught:
        read_xml(path, record_path="a", fields={"x": ["a"]})

    assert "deep.xml" in str(caught.value)
    assert "line 1" in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)


# --- broken files ------------------------------------------------------------------------


def test_empty_file_refused(tmp_path):
    path = write(tmp_path / "empty.xml", "")

    with pytest.raises(InputRefused) as caught:
        read_xml(path, record_path="Exclusion", fields={"x": ["StartDate"]})

    assert "empty.xml" in str(caught.value)
    assert "empty export" in str(caught.value)


def test_truncated_file_refused(tmp_path):
    text = (XXE_CASE / "ctf_clean_control.xml").read_text(encoding="utf-8")
    path = write(tmp_path / "truncated.xml", text[: text.index("<Category>PERM")])

    with pytest.raises(InputRefused) as caught:
        read_xml(path, record_path="Exclusion", fields={"x": ["StartDate"]})

    message = str(caught.value)
    assert "truncated.xml" in message
    assert "line 39" in message
    assert "export it again" in message


def test_mismatched_tags_refused(tmp_path):
    path = write(tmp_path / "broken.xml", "<r>\n<Exclusion>\n<StartDate>x</Start>\n</r>")

    with pytest.raises(InputRefused, match="line 3"):
        read_xml(path, record_path="Exclusion", fields={"x": ["StartDate"]})


def test_missing_file_refused(tmp_path):
    with pytest.raises(InputRefused, match="cannot be read"):
        read_xml(tmp_path / "absent.xml", record_path="Exclusion", fields={"x": ["StartDate"]})


# --- paths and shapes --------------------------------------------------------------------

PUPILS = """\
<Pupil>
  <UPN>D801999924001</UPN>
  <Surname>Ashworth</Surname>
  <Exclusions>
    <Exclusion id="e1">
      <StartDate>2024-03-04</StartDate>
      <Category>FIXD</Category>
      <Reasons><Reason>DB</Reason><Reason>VA</Reason></Reasons>
    </Exclusion>
  </Exclusions>
</Pupil>
<Pupil>
  <UPN>K801999924005</UPN>
  <Surname>Halloway</Surname>
  <Exclusions>
    <Exclusion id="e2">
      <StartDate>2024-02-05</StartDate>
      <Category>PERM</Category>
      <Reason>PA</Reason>
    </Exclusion>
  </Exclusions>
</Pupil>
"""

SHAPE_FIELDS = {
    "upn": ["../../UPN"],
    "lea": ["../../../../Header/SourceSchool/LEA"],
    "id": ["@id"],
    "start_date": ["StartDate"],
    "reason_1": ["Reasons/Reason[1]", "Reason"],
    "reason_2": ["Reasons/Reason[2]"],
    "reason_3": ["Reasons/Reason[3]"],
}


def prefixed(text: str, prefix: str) -> str:
    """Put every element of a plain document into the prefix's namespace."""
    return text.replace("</", "\0").replace("<", f"<{prefix}:").replace("\0", f"</{prefix}:")


def test_namespaces_give_identical_frames(tmp_path):
    plain = write(tmp_path / "plain.xml", ctf(PUPILS))
    default = write(tmp_path / "default.xml", ctf(PUPILS, ' xmlns="urn:example:ctf"'))
    prefixed_path = write(
        tmp_path / "prefixed.xml",
        ctf(prefixed(PUPILS, "c"), ' xmlns:c="urn:example:ctf"', prefix="c"),
    )

    frames = [
        read_xml(path, record_path="Pupil/Exclusions/Exclusion", fields=SHAPE_FIELDS).frame
        for path in (plain, default, prefixed_path)
    ]

    assert list(frames[0]["upn"]) == ["D801999924001", "K801999924005"]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])


def test_reason_shapes_through_alternatives(tmp_path):
    path = write(tmp_path / "reasons.xml", ctf(PUPILS))

    frame = read_xml(path, record_path="Exclusion", fields=SHAPE_FIELDS).frame

    assert list(frame["reason_1"]) == ["DB", "PA"]
    assert list(frame["reason_2"]) == ["VA", ""]
    assert list(frame["reason_3"]) == ["", ""]
    assert list(frame["lea"]) == ["801", "801"]
    assert list(frame["id"]) == ["e1", "e2"]


def test_record_path_matches_suffix_only(tmp_path):
    path = write(
        tmp_path / "suffix.xml",
        ctf(PUPILS.replace("</Pupil>\n<Pupil>", "</Pupil>\n<Other><Exclusion><StartDate>"
                           "1999-01-01</StartDate></Exclusion></Other>\n<Pupil>", 1)),
    )

    by_suffix = read_xml(path, record_path="Pupil/Exclusions/Exclusion", fields=SHAPE_FIELDS)
    anywhere = read_xml(path, record_path="Exclusion", fields=SHAPE_FIELDS)
    anchored = read_xml(
        path, record_path="/CTfile/CTFpupilData/Pupil/Exclusions/Exclusion", fields=SHAPE_FIELDS
    )
    wrong_root = read_xml(path, record_path="/Pupil/Exclusions/Exclusion", fields=SHAPE_FIELDS)

    assert list(by_suffix.frame["start_date"]) == ["2024-03-04", "2024-02-05"]
    assert list(anywhere.frame["start_date"]) == ["2024-03-04", "1999-01-01", "2024-02-05"]
    assert list(anchored.frame["start_date"]) == ["2024-03-04", "2024-02-05"]
    assert len(wrong_root) == 0


def test_b2b_exclusions_directly_under_pupil(tmp_path):
    path = write(
        tmp_path / "b2b.xml",
        "<Students><Student><UPN>A1</UPN>"
        "<Exclusion><StartDate>2024-01-08</StartDate></Exclusion>"
        "<Exclusion><StartDate>2024-02-12</StartDate></Exclusion>"
        "</Student><Student><UPN>B2</UPN>"
        "<Exclusion><StartDate>2024-03-11</StartDate></Exclusion></Student></Students>",
    )

    frame = read_xml(
        path, record_path="Student/Exclusion", fields={"upn": ["../UPN"], "d": ["StartDate"]}
    ).frame

    assert list(frame["upn"]) == ["A1", "A1", "B2"]
    assert list(frame["d"]) == ["2024-01-08", "2024-02-12", "2024-03-11"]


def test_pupil_fields_right_across_chunks(tmp_path):
    # Far more than one parser chunk, with pupils that have no exclusions in between, so the
    # ancestor values of each record must come from its own pupil after earlier ones are freed.
    detail = "<Address><Street>" + "Mill Lane " * 50 + "</Street></Address>"
    pupils = []
    for number in range(3_000):
        exclusions = "".join(
            f"<Exclusion><StartDate>{number}-{index}</StartDate></Exclusion>"
            for index in range(number % 3)
        )
        pupils.append(
            f"<Pupil><UPN>A{number}</UPN><Surname>S{number}</Surname>{detail}"
            f"<Exclusions>{exclusions}</Exclusions></Pupil>\n"
        )
    path = write(tmp_path / "many.xml", ctf("".join(pupils)))
    assert path.stat().st_size > 1_000_000

    frame = read_xml(
        path,
        record_path="Exclusion",
        fields={"upn": ["../../UPN"], "surname": ["../../Surname"], "d": ["StartDate"]},
    ).frame

    assert len(frame) == 3_000
    numbers = frame["d"].str.split("-").str[0]
    assert list(frame["upn"]) == list("A" + numbers)
    assert list(frame["surname"]) == list("S" + numbers)


def test_first_present_ancestor_path_wins(tmp_path):
    path = write(
        tmp_path / "alternatives.xml",
        "<Root><Header><LAESTAB>9404123</LAESTAB></Header><Pupils>"
        "<Pupil><UPN>A1</UPN><Exclusions><Exclusion><StartDate>2024-01-08</StartDate>"
        "</Exclusion></Exclusions></Pupil>"
        "<Pupil><UPN>B2</UPN><Exclusion><StartDate>2024-02-12</StartDate></Exclusion></Pupil>"
        "</Pupils></Root>",
    )

    frame = read_xml(
        path,
        record_path="Exclusion",
        fields={
            "laestab": ["../../../../Header/LAESTAB", "../../../Header/LAESTAB"],
            "upn": ["../../UPN", "../UPN"],
        },
    ).frame

    assert list(frame["laestab"]) == ["9404123", "9404123"]
    assert list(frame["upn"]) == ["A1", "B2"]


def test_attribute_paths_ignore_namespace(tmp_path):
    path = write(
        tmp_path / "attributes.xml",
        '<r xmlns:x="urn:x"><Exclusion x:code="FIXD"><Period from="2024-01-08"/></Exclusion></r>',
    )

    frame = read_xml(
        path,
        record_path="Exclusion",
        fields={"code": ["@code"], "from": ["Period/@from"], "missing": ["@none", "Period/@to"]},
    ).frame

    assert frame.iloc[0].to_dict() == {
        "code": "FIXD",
        "from": "2024-01-08",
        "missing": "",
        LINE_COLUMN: 1,
    }


def test_sims_report_shape(tmp_path):
    path = write(
        tmp_path / "sims_report.xml",
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<SuperStarReport>\n"
        "  <Record>\n"
        "    <UPN>D801999924001</UPN>\n"
        "    <Legal_x0020_Surname>  O'Brien  </Legal_x0020_Surname>\n"
        "    <Year_x0020_of_x0020_entry>2019</Year_x0020_of_x0020_entry>\n"
        "  </Record>\n"
        "  <Record>\n"
        "    <UPN>K801999924005</UPN>\n"
        "    <Legal_x0020_Surname/>\n"
        "  </Record>\n"
        "</SuperStarReport>\n",
    )

    table = read_xml(
        path,
        record_path="SuperStarReport/Record",
        fields={
            "upn": ["UPN"],
            "surname": ["Legal_x0020_Surname"],
            "entry": ["Year_x0020_of_x0020_entry"],
        },
    )

    assert list(table.frame["surname"]) == ["O'Brien", ""]
    assert list(table.frame["entry"]) == ["2019", ""]
    assert list(table.frame[LINE_COLUMN]) == [3, 8]


def test_record_line_is_start_tag_line(tmp_path):
    path = write(
        tmp_path / "lines.xml",
        '<?xml version="1.0"?>\n<CTfile>\n<!-- a comment\nover two lines -->\n<CTFpupilData>\n'
        "<Pupil><UPN>A1</UPN><Exclusions>\n"
        "<Exclusion id='1'>\n<StartDate>2024-01-08</StartDate></Exclusion>\n"
        "<Exclusion\n  id='2'>\n<StartDate>2024-01-09</StartDate></Exclusion>\n"
        "</Exclusions></Pupil>\n</CTFpupilData>\n</CTfile>\n",
    )

    frame = read_xml(path, record_path="Exclusion", fields={"d": ["StartDate"]}).frame

    # libxml2 gives a start tag that spans lines the line on which the tag ends.
    assert list(frame[LINE_COLUMN]) == [7, 10]


def test_cells_are_stripped_strings(tmp_path):
    path = write(
        tmp_path / "cells.xml",
        "<r><Exclusion><A>\n  two words \t</A><B/><C>x<D>inner</D>tail</C>"
        "<E><![CDATA[ <kept> ]]></E><F>caf&#233; &amp; co</F></Exclusion></r>",
    )

    frame = read_xml(
        path,
        record_path="Exclusion",
        fields={k: [k] for k in ["A", "B", "C", "E", "F", "G"]},
    ).frame

    assert frame.iloc[0].drop(LINE_COLUMN).to_dict() == {
        "A": "two words",
        "B": "",
        "C": "x",
        "E": "<kept>",
        "F": "café & co",
        "G": "",
    }
    assert all(isinstance(value, str) for value in frame.iloc[0].drop(LINE_COLUMN))


def test_utf16_and_latin1_files_read(tmp_path):
    text = ctf(PUPILS).replace("Ashworth", "Æsc £5")
    utf16 = write(tmp_path / "utf16.xml", text.replace("UTF-8", "UTF-16"), encoding="utf-16")
    latin = write(
        tmp_path / "latin.xml", text.replace("UTF-8", "ISO-8859-1"), encoding="iso-8859-1"
    )
    fields = {"surname": ["../../Surname"]}

    for path in (utf16, latin):
        frame = read_xml(path, record_path="Exclusion", fields=fields).frame
        assert list(frame["surname"]) == ["Æsc £5", "Halloway"], path.name


def test_no_records_gives_empty_frame(tmp_path):
    path = write(tmp_path / "none.xml", ctf(""))

    table = read_xml(path, record_path="Exclusion", fields={"a": ["A"], "b": ["B"]})

    assert len(table) == 0
    assert list(table.frame.columns) == ["a", "b", LINE_COLUMN]


def test_info_log_counts_records_only(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sync_agent.connectors.xml_reader")
    path = write(tmp_path / "logged.xml", ctf(PUPILS))

    read_xml(path, record_path="Exclusion", fields=SHAPE_FIELDS)

    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(messages) == 1
    assert "read 2 XML records" in messages[0]
    assert "D801999924001" not in caplog.text
    assert "Ashworth" not in caplog.text


@pytest.mark.parametrize(
    ("fields", "record_path", "fragment"),
    [
        ({"x": ["A/../B"]}, "R", "'..'"),
        ({"x": ["A[0]"]}, "R", "'A[0]'"),
        ({"x": ["A//B"]}, "R", "'A//B'"),
        ({"x": ["@a/B"]}, "R", "'@a'"),
        ({"x": "A"}, "R", "list of one or more paths"),
        ({"x": []}, "R", "list of one or more paths"),
        ({LINE_COLUMN: ["A"]}, "R", "reserved"),
        ({"x": ["A"]}, "R[1]", "record path"),
        ({"x": ["A"]}, "R/@id", "record path"),
    ],
)
def test_invalid_paths_raise_mapping_error(tmp_path, fields, record_path, fragment):
    path = write(tmp_path / "r.xml", "<R/>")

    with pytest.raises(MappingError) as caught:
        read_xml(path, record_path=record_path, fields=fields)

    assert fragment in str(caught.value)


# --- memory ------------------------------------------------------------------------------


def write_bulky_ctf(path: Path, pupils: int) -> None:
    """Write pupils whose unread attendance detail is large, and one exclusion each."""
    detail = "<AttendanceMarks>" + "/\\" * 2_000 + "</AttendanceMarks>"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("<CTfile><CTFpupilData>\n")
        for number in range(pupils):
            handle.write(
                f"<Pupil><UPN>A{number:012d}</UPN><Attendance>{detail}{detail}</Attendance>"
                f"<Exclusions><Exclusion><StartDate>2024-01-08</StartDate></Exclusion>"
                f"</Exclusions></Pupil>\n"
            )
        handle.write("</CTFpupilData></CTfile>\n")


def test_memory_flat_under_tracemalloc(tmp_path):
    path = tmp_path / "bulky.xml"
    write_bulky_ctf(path, 1_000)
    size = path.stat().st_size
    assert size > 7_000_000

    tracemalloc.start()
    try:
        table = read_xml(
            path, record_path="Exclusion", fields={"upn": ["../../UPN"], "d": ["StartDate"]}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(table) == 1_000
    assert peak < size * 0.5


MEASURE_RSS = """
import json, resource, sys
from pathlib import Path
from sync_agent.connectors.xml_reader import read_xml
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
table = read_xml(Path(sys.argv[1]), record_path="Exclusion",
                 fields={"upn": ["../../UPN"], "d": ["StartDate"]})
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"records": len(table), "growth_bytes": (after - before) * 1024}))
"""


MEASURE_RSS_NO_RECORDS = MEASURE_RSS.replace('record_path="Exclusion"', 'record_path="Missing"')


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in KiB on Linux")
def test_memory_flat_without_records(tmp_path):
    # A file with no record elements gives the reader no event to free detail at, so this
    # checks that memory stays flat when the wrong mapping is used.
    path = tmp_path / "bulky.xml"
    write_bulky_ctf(path, 1_200)
    size = path.stat().st_size

    completed = subprocess.run(
        [sys.executable, "-c", MEASURE_RSS_NO_RECORDS, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(completed.stdout)

    assert result["records"] == 0
    assert result["growth_bytes"] < size * 0.5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in KiB on Linux")
def test_parser_memory_flat_in_subprocess(tmp_path):
    # tracemalloc cannot see libxml2's tree, so the peak resident size of a fresh process is
    # measured too: a whole tree of this file would take several times its size.
    path = tmp_path / "bulky.xml"
    write_bulky_ctf(path, 1_200)
    size = path.stat().st_size

    completed = subprocess.run(
        [sys.executable, "-c", MEASURE_RSS, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(completed.stdout)

    assert result["records"] == 1_200
    assert result["growth_bytes"] < size * 0.5

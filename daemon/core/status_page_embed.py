#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compiles the status page into the daemon: status_page.html becomes a C header with the
page as two byte arrays, before and after its <!--JOBS--> marker (where status_page.c
renders the jobs table), and the CSP hashes of its inline <script> and <style>.

usage: status_page_embed.py status_page.html status_page_html.h"""
import base64
import hashlib
import re
import sys

MARKER = b"<!--JOBS-->"


def fail(path, why):
    sys.exit(f"{path}: {why}")


def csp_hashes(page, tag):
    """'sha256-…' of each inline <tag> element's text, as the browser hashes it."""
    bodies = re.findall(rb"<%s>(.*?)</%s>" % (tag, tag), page, re.S)
    return " ".join("'sha256-%s'" % base64.b64encode(hashlib.sha256(b).digest()).decode()
                    for b in bodies)


def c_array(name, data):
    lines = [", ".join("0x%02x" % b for b in data[i:i + 12]) for i in range(0, len(data), 12)]
    return "static const unsigned char %s[] = {\n        %s\n};\n" % (
        name, ",\n        ".join(lines))


def main(src, out):
    with open(src, "rb") as f:
        page = f.read()
    if page.count(MARKER) != 1:
        fail(src, f"needs exactly one {MARKER.decode()} marker")
    # The CSP lets the inline script and style run by their hash: the hash must be of the
    # text the browser sees (its parser turns CRLF into LF), and handler or style
    # attributes would be blocked.
    if b"\r" in page:
        fail(src, "has a carriage return (the CSP hashes would not match)")
    markup = re.sub(rb"<(script|style)>.*?</\1>", b"", page, flags=re.S)
    if re.search(rb"<[^>]*\s(on[a-z]+|style)\s*=", markup):
        fail(src, "has an event handler or style attribute, which the CSP blocks")
    before, after = page.split(MARKER)
    with open(out, "w") as f:
        f.write("/* Generated from status_page.html by status_page_embed.py: do not edit. */\n")
        f.write(c_array("status_page_before", before))
        f.write(c_array("status_page_after", after))
        f.write('#define STATUS_PAGE_SCRIPT_HASHES "%s"\n' % csp_hashes(page, b"script"))
        f.write('#define STATUS_PAGE_STYLE_HASHES "%s"\n' % csp_hashes(page, b"style"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[-1])
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/env python3
"""Count the tests that meson ran, for scripts/test.sh: "N passed, N failed[, N skipped]", then N.

Usage: test_count.py JUNIT JSONLOG [JUNIT JSONLOG ...]: meson's testlog.junit.xml and
testlog.json of each build dir. One junit testcase per TAP subtest (Criterion runs with
--tap=-), or one per test without subtests. A test that failed as a whole (bad exit, crash,
timeout) while all its subtests passed counts as one more failure. A log that cannot be read
counts nothing (a message on stderr). Prints the summary line, then the number of failures.
"""
import json, sys, xml.etree.ElementTree as ET

passed = failed = skipped = 0
for junit, jsonlog in zip(sys.argv[1::2], sys.argv[2::2]):
    failed_names = set()  # tests with at least one failed testcase
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"cannot read {junit}: {e}", file=sys.stderr)
        root = ET.Element("testsuites")
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                # subtests: suite "<project>.<test>"; a test without subtests: testcase "<test>"
                failed_names.add(suite.get("name", "").split(".", 1)[-1])
                failed_names.add(case.get("name", ""))
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    try:
        with open(jsonlog) as f:
            for line in f:
                t = json.loads(line)
                if t.get("result") in ("FAIL", "ERROR", "TIMEOUT", "UNEXPECTEDPASS") \
                        and t.get("name") not in failed_names:
                    print(f"{t.get('name')}: {t.get('result')} although no subtest failed",
                          file=sys.stderr)
                    failed += 1
    except (OSError, ValueError):
        pass
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
print(failed)

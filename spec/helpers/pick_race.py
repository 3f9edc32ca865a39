#!/usr/bin/env python3
"""Ports picking and a client cancelling at once, through several gateways (spec/integration/
postgresql_spec.lua). Usage: pick_race.py CANCEL_URL[,CANCEL_URL...] TASK_ID,TASK_ID,... PICKER_URL:PORT_ID...

Each picker is a thread with a connection of its own: openbin on its port, closebin of what it
got (the task is done), until openbin answers 1015 (nothing left) three times in a row; a call
answered 1934 (a row lock not granted in time: nothing changed) is sent again. One more
thread cancels each of the listed tasks through CANCEL_URL meanwhile, last first (the pickers
start at the first). With several CANCEL_URLs, or CANCELLERS=N in the environment (threads per
URL, default 1), the cancellers take turns along the list (thread k of K every Kth task), so
that cancels through different gateways meet in the same groups. Prints one JSON
object: {"picked": {port_id: [task_id, ...]}, "cancels": {task_id: "ok" or the fault code},
"unavailable": number of 1934 answers (retried or not), "errors": [...]}. A call that got no
answer (the gateway was killed) counts as "error". With no PICKER arguments, only the cancels run;
with "-" for the cancel URLs and task ids, only the pickers."""
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse

unavailable = []  # the calls answered 1934 (list.append is atomic between threads)

def caller(url):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def call(name, params):
        body = "<methodcall><name>%s</name><params>%s</params></methodcall>" % (name, params)
        try:
            conn.request("POST", parts.path, body, {"Content-Type": "text/xml"})
            reply = conn.getresponse().read().decode()
        except OSError:  # the gateway went away (a spec killed it): no answer, so no acknowledgment
            conn.close()
            return "error", ""
        fault = re.search(r"<code>(\d+)</code>", reply)
        if fault and fault.group(1) == "1934":
            unavailable.append(name)
        return (fault.group(1) if fault else "ok"), reply

    return call


def picker(url, port, picked, errors):
    call = caller(url)
    idle = 0
    while idle < 3:
        outcome, reply = call("openbin", "<port_id>%d</port_id>" % port)
        if outcome == "1934":  # a row lock not granted within 1 s (a loaded machine): nothing done
            continue
        if outcome == "1015":
            idle += 1
            time.sleep(0.05)
            continue
        if outcome != "ok":
            errors.append("openbin at %d: %s" % (port, outcome))
            return
        idle = 0
        task = int(re.search(r"<task_id>(\d+)</task_id>", reply).group(1))
        bin_id = int(re.search(r"<bin_id>(\d+)</bin_id>", reply).group(1))
        picked.append(task)
        closing = "<port_id>%d</port_id><bin_id>%d</bin_id><task_id>%d</task_id>" % (port, bin_id, task)
        outcome = "1934"
        while outcome == "1934":
            outcome, _ = call("closebin", closing)
        if outcome != "ok":
            errors.append("closebin at %d of %d: %s" % (port, task, outcome))


def canceller(url, tasks, cancels):
    call = caller(url)
    for task in tasks:
        cancels[task] = call("cancel_task", "<task_id>%d</task_id>" % task)[0]


def main():
    cancel_urls = sys.argv[1].split(",") if sys.argv[1] != "-" else []
    tasks = [int(task) for task in sys.argv[2].split(",")] if sys.argv[2] != "-" else []
    picked, cancels, errors, threads = {}, {}, [], []
    for spec in sys.argv[3:]:
        url, port = spec.rsplit(":", 1)
        picked[port] = []
        threads.append(threading.Thread(target=picker, args=(url, int(port), picked[port], errors)))
    cancellers = [url for _ in range(int(os.environ.get("CANCELLERS", "1"))) for url in cancel_urls]
    last_first = list(reversed(tasks))
    for k, url in enumerate(cancellers):
        threads.append(threading.Thread(target=canceller, args=(url, last_first[k::len(cancellers)], cancels)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"picked": picked, "cancels": cancels, "unavailable": len(unavailable), "errors": errors}))


main()

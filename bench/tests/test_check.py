from check import pick_reference


def candidate(date, host, entities, path):
    return (date, 0, path, {"machine": {"host": host}, "config": {"suite": "all", "txn": {"entities": entities}}})


def test_reference_is_the_newest_of_the_same_host_and_size():
    c = [candidate("2026-12-01", "vm", 200000, "a.json"), candidate("2026-12-03", "vm", 1000000, "b.json"),
         candidate("2026-12-02", "ci", 200000, "c.json"), candidate("2026-11-30", "vm", 200000, "d.json")]
    assert pick_reference(c, "vm", 200000)[0] == "a.json"  # b is newer but another size, c another host
    assert pick_reference(c, "laptop", 200000)[0] == "c.json"  # no such host: the newest of the same size
    assert pick_reference(c, "vm", 5)[0] == "b.json"  # no such size: the newest of the host
    assert pick_reference(c, "laptop", 5)[0] == "b.json"  # neither: the newest
    assert pick_reference([], "vm", 200000) is None

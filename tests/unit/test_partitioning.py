"""The batch partitioner puts every key where Kafka's default partitioner puts it."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner, murmur2

from llm_shield.streams.partitioning import key_partitions, murmur2_many


def _keys(count: int, seed: int = 11) -> list[bytes]:
    rng = random.Random(seed)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", "conversación-ü".encode()]
    keys += [rng.randbytes(rng.randrange(0, 70)) for _ in range(count)]
    keys += [f"evt-{i}".encode() for i in range(count)]  # many of one length, and a few lengths
    return keys


def test_the_hash_is_the_java_clients_murmur2_for_every_length_and_byte() -> None:
    keys = _keys(3000)
    assert murmur2_many(keys).tolist() == [murmur2(key) for key in keys]


def test_keys_land_on_the_default_partitioners_partition() -> None:
    keys = _keys(1000, seed=5)
    for count in (1, 3, 4, 7, 12):
        partitions = list(range(count))
        expected = [DefaultPartitioner()(key, partitions, partitions) for key in keys]
        assert key_partitions(keys, partitions) == expected


def test_partition_ids_are_taken_from_the_list_given() -> None:
    keys = _keys(200, seed=9)
    ids = [0, 1, 2, 3]
    assert key_partitions(keys, [10, 11, 12, 13]) == [10 + p for p in key_partitions(keys, ids)]
    assert key_partitions([], ids) == []

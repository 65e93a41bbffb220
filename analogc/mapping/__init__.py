"""Mapping: Graph -> Plan (classify, partition onto tiles, place on chips)."""
from analogc.hardware import resolve_hw  # its home is analogc.hardware; re-exported here
from analogc.mapping.partition import assign_placement, compile, partition_mvm, place_on_chips
from analogc.mapping.plan import Plan, TileMapping

__all__ = ["Plan", "TileMapping", "assign_placement", "compile", "partition_mvm",
           "place_on_chips", "resolve_hw"]

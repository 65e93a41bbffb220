"""Mapping: Graph -> Plan (classify, partition onto tiles, place on chips)."""
from analogc.mapping.partition import assign_placement, compile, partition_mvm, place_on_chips, resolve_hw
from analogc.mapping.plan import Plan, TileMapping

__all__ = ["Plan", "TileMapping", "assign_placement", "compile", "partition_mvm",
           "place_on_chips", "resolve_hw"]

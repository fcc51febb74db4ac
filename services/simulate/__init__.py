"""`tidewatch simulate`: a deterministic simulated station network publishing v1 messages over MQTT."""

from services.simulate.faults import CONTRACT_FAULT_REASON, FaultRates
from services.simulate.model import SimMessage, Simulation
from services.simulate.scenario import Event, Scenario, default_scenario, load_scenario, parse_scenario
from services.simulate.synthetic import synthetic_registry

__all__ = [
    "CONTRACT_FAULT_REASON",
    "Event",
    "FaultRates",
    "Scenario",
    "SimMessage",
    "Simulation",
    "default_scenario",
    "load_scenario",
    "parse_scenario",
    "synthetic_registry",
]

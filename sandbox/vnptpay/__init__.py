"""VNPT Pay gateway simulator (the outside world; imports nothing of the bot's packages)."""

from sandbox.vnptpay.app import create_vnptpay_app, simulator_state
from sandbox.vnptpay.model import SimulatorConfig, SimulatorState, Switches, Transaction
from sandbox.vnptpay.protocol import CONFIG_KEY, STATE_KEY, luhn_ok
from sandbox.vnptpay.runner import RunningSimulator, run_simulator, start_simulator

__all__ = [
    "CONFIG_KEY",
    "STATE_KEY",
    "RunningSimulator",
    "SimulatorConfig",
    "SimulatorState",
    "Switches",
    "Transaction",
    "create_vnptpay_app",
    "luhn_ok",
    "run_simulator",
    "simulator_state",
    "start_simulator",
]

"""Running the simulator on its own port (tests, ``python -m sandbox.vnptpay``)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from sandbox.vnptpay.app import create_vnptpay_app, simulator_state
from sandbox.vnptpay.model import SimulatorConfig, SimulatorState


@dataclass
class RunningSimulator:
    runner: web.AppRunner
    app: web.Application
    config: SimulatorConfig
    base_url: str

    @property
    def state(self) -> SimulatorState:
        return simulator_state(self.app)

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_simulator(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0
) -> RunningSimulator:
    """Serve the simulator in the running event loop. ``port=0`` picks a free port; an empty
    ``config.public_base_url`` is then set to the bound address."""
    app = create_vnptpay_app(config)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    base_url = f"http://{bound_host}:{bound_port}"
    if not config.public_base_url:
        config.public_base_url = base_url
    return RunningSimulator(runner, app, config, base_url)


def run_simulator(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8090) -> None:
    """Serve the simulator until interrupted (blocking)."""
    if not config.public_base_url:
        config.public_base_url = f"http://{host}:{port}"
    web.run_app(create_vnptpay_app(config), host=host, port=port, print=None)

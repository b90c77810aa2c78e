"""``python -m sandbox.vnptpay``: the VNPT Pay simulator alone, for manual checks."""

from __future__ import annotations

import argparse
import logging

from sandbox.vnptpay.model import SimulatorConfig
from sandbox.vnptpay.runner import run_simulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.vnptpay")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--merchant-service-id", default="SANDBOX")
    parser.add_argument("--api-key", default="sandbox-api-key")
    parser.add_argument("--secret-key", default="sandbox-secret")
    parser.add_argument("--return-url", default="http://127.0.0.1:8080/payments/vnptpay/return")
    parser.add_argument("--ipn-url", default="http://127.0.0.1:8080/payments/vnptpay/ipn")
    parser.add_argument("--public-base-url", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    config = SimulatorConfig(
        merchant_service_id=args.merchant_service_id,
        api_key=args.api_key,
        secret_key=args.secret_key,
        return_url=args.return_url,
        ipn_url=args.ipn_url,
        public_base_url=args.public_base_url,
    )
    print(f"VNPT Pay simulator on http://{args.host}:{args.port}", flush=True)
    run_simulator(config, args.host, args.port)


if __name__ == "__main__":
    main()

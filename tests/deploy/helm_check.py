#!/usr/bin/env python3
"""Lints the Helm chart and renders it through Helm itself (helm-sdkpy: Helm as a shared library).

helm-sdkpy exposes no dry-run or template action, so "render" is a real `helm install` (no --wait) into a
throwaway namespace of the test control plane, followed by `helm uninstall`. Prints one JSON object:

  {"helm_sdkpy": VERSION,
   "lint": {"messages": [{"severity": "INFO|WARNING|ERROR", "path": ...}], "errors": N},
   "manifest": "<the rendered templates, multi-document YAML>",
   "notes": "<rendered NOTES.txt>",
   "status": "<release status after install>",
   "uninstalled": true|false}

With --action uninstall it only uninstalls the release (left by an earlier --keep) and prints
{"helm_sdkpy": VERSION, "uninstalled": true}.

Exit codes: 0 done (the caller judges the result), 2 bad usage, 3 helm-sdkpy missing, 4 a Helm action failed.
"""

import argparse
import asyncio
import json
import sys

INSTALL_HINT = "pip install --ignore-requires-python helm-sdkpy"
# helm's support.Severity: 0 unknown, 1 info, 2 warning, 3 error.
SEVERITIES = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", required=True, help="path of the chart folder")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True, help="an existing namespace to install into")
    parser.add_argument("--release", required=True)
    parser.add_argument("--values", default="{}", help="values as a JSON object")
    parser.add_argument(
        "--action",
        choices=["check", "uninstall"],
        default="check",
        help="check: lint + install (+ uninstall unless --keep); uninstall: only uninstall the release",
    )
    parser.add_argument("--keep", action="store_true", help="leave the release installed")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per Helm action")
    args = parser.parse_args()

    try:
        import helm_sdkpy
    except ImportError as err:
        print(
            f"helm-sdkpy is not installed ({err}); install it with `{INSTALL_HINT}` "
            "(or run `cargo xtask test`, which does)",
            file=sys.stderr,
        )
        return 3

    try:
        values = json.loads(args.values)
    except json.JSONDecodeError as err:
        print(f"--values is not JSON: {err}", file=sys.stderr)
        return 2

    result = {"helm_sdkpy": getattr(helm_sdkpy, "__version__", "unknown")}
    try:
        config = helm_sdkpy.Configuration(namespace=args.namespace, kubeconfig=args.kubeconfig)
        if args.action == "uninstall":
            asyncio.run(
                asyncio.wait_for(
                    helm_sdkpy.Uninstall(config).run(args.release, wait=False, timeout=args.timeout),
                    args.timeout,
                )
            )
            result["uninstalled"] = True
            print(json.dumps(result))
            return 0

        lint = asyncio.run(
            asyncio.wait_for(helm_sdkpy.Lint(config).run(args.chart), args.timeout)
        )
        messages = [
            {
                "severity": SEVERITIES.get(m.get("Severity"), str(m.get("Severity"))),
                "path": m.get("Path", ""),
            }
            for m in (lint.get("Messages") or [])
        ]
        result["lint"] = {"messages": messages, "errors": len(lint.get("Errors") or [])}

        release = asyncio.run(
            asyncio.wait_for(
                helm_sdkpy.Install(config).run(
                    args.release, args.chart, values=values, wait=False, timeout=args.timeout
                ),
                args.timeout,
            )
        )
        result["manifest"] = release.get("manifest", "")
        result["notes"] = (release.get("info") or {}).get("notes", "")
        result["status"] = (release.get("info") or {}).get("status", "")

        result["uninstalled"] = False
        if not args.keep:
            asyncio.run(
                asyncio.wait_for(
                    helm_sdkpy.Uninstall(config).run(args.release, wait=False, timeout=args.timeout),
                    args.timeout,
                )
            )
            result["uninstalled"] = True
    except Exception as err:  # noqa: BLE001 - report any Helm failure with its type
        print(f"helm action failed: {type(err).__name__}: {err}", file=sys.stderr)
        print(json.dumps(result))
        return 4

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

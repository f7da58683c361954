"""Execute a notebook with papermill into a deterministic output path.

Usage::

    python -m helpers.run NOTEBOOK [--params FILE.yml ...] [-p NAME VALUE ...] [--dry-run]

``NOTEBOOK`` is a path or a prefix of a file in ``notebooks/`` (``01`` or ``01_finetuning``).
Each ``--params`` file is one named parameter set; several files run the notebook once per set.
``-p`` overrides apply to every set; values are parsed as YAML (``-p tasks "[mr, bshift]"``), numbers as YAML 1.2
reads them (``-p finetune "{learning_rate: 3e-4}"``: a float; :func:`helpers.checks.load_yaml`).
Unknown parameter names are an error that lists the notebook's parameters (papermill only warns).

A parameter-set file::

    description: the paper's setup (needs internet and a GPU)
    parameters:          # shared: applied to every notebook that declares the name
      model: bert-base-uncased
    notebooks:           # per notebook (by file stem): every name must exist in that notebook
      01_finetuning: {epochs: 3}

Output: ``_build/executed/<notebook>/<set>-<hash of the parameters>.ipynb`` plus a ``.json`` sidecar
with the parameters and the run time.  The same notebook and parameters give the same path.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import cache, checks, paths
from .checks import ParameterError


def find_notebook(name: str | Path) -> Path:
    p = Path(name)
    if p.is_file():
        return p.resolve()
    cands = sorted(q for q in paths.NOTEBOOKS.glob("*.ipynb") if q.stem == str(name) or q.stem.startswith(f"{name}_"))
    if len(cands) != 1:
        valid = ", ".join(q.stem for q in sorted(paths.NOTEBOOKS.glob("*.ipynb")))
        raise ParameterError(f"notebook={str(name)!r} matches {len(cands)} notebooks; choose one of: {valid}")
    return cands[0]


def notebook_parameters(path: Path) -> dict:
    """Names and defaults of the notebook's ``parameters`` cell (via papermill's inspection)."""
    import papermill as pm

    info = pm.inspect_notebook(str(path))
    return {k: v.get("default") for k, v in info.items()}


def effective_parameters(path: Path) -> dict:
    """A notebook's parameters as it runs: its ``parameters`` cell's defaults (as Python values), replaced by the
    values papermill injected (``metadata.papermill.parameters``) where a parameter set gave any
    (:mod:`helpers.staging`)."""
    import ast

    import nbformat

    values = {k: ast.literal_eval(v) for k, v in notebook_parameters(path).items()}
    values.update(nbformat.read(path, as_version=4).metadata.get("papermill", {}).get("parameters", {}) or {})
    return values


def _all_parameter_names() -> set[str]:
    names: set[str] = set()
    for nb in paths.NOTEBOOKS.glob("*.ipynb"):
        names |= set(notebook_parameters(nb))
    return names


def parameter_set_file(name: str | Path) -> Path:
    """The parameter-set file ``name``: a path, or a name in ``params/`` with or without ``.yml``."""
    for f in (Path(name), paths.PARAMS / str(name), paths.PARAMS / f"{name}.yml"):
        if f.is_file():
            return f
    avail = ", ".join(sorted(p.stem for p in paths.PARAMS.glob("*.yml")))
    raise ParameterError(f"params={str(name)!r}: no such file; named sets in params/: {avail}")


def load_parameter_set(file: Path, notebook: Path) -> tuple[str, dict]:
    """(set name, parameters for this notebook) from a parameter-set YAML file (:func:`parameter_set_file`)."""
    file = parameter_set_file(file)
    data = checks.load_yaml(file.read_text()) or {}
    unknown_keys = set(data) - {"description", "parameters", "notebooks"}
    if unknown_keys:
        raise ParameterError(f"{file.name}: unknown top-level keys {sorted(unknown_keys)}; allowed: description, parameters, notebooks")
    declared = notebook_parameters(notebook)
    shared = data.get("parameters") or {}
    stray = set(shared) - _all_parameter_names()
    if stray:
        raise ParameterError(f"{file.name}: parameters {sorted(stray)} exist in no notebook")
    params = {k: v for k, v in shared.items() if k in declared}
    params.update((data.get("notebooks") or {}).get(notebook.stem) or {})
    check_numbers(notebook, params, declared)
    return file.stem, params


def parse_overrides(pairs) -> dict:
    """``-p NAME VALUE`` pairs -> ``{name: value}``, each value parsed as YAML (:func:`helpers.checks.load_yaml`:
    ``1e-9`` a float, as YAML 1.2 and JSON read it, not YAML 1.1's string)."""
    return {k: checks.load_yaml(v) for k, v in pairs}


def check_names(notebook: Path, params: dict) -> None:
    declared = notebook_parameters(notebook)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        listing = "\n".join(f"  {k} = {v}" for k, v in declared.items())
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} for {notebook.name}; its parameters are:\n{listing}")


def check_finetune_numbers(finetune) -> None:
    """A ``finetune`` dict's numeric settings (epochs, learning_rate, ...) are not strings that read as numbers
    (a quoted ``'1e-9'``): refused here, with the fix, before a kernel starts."""
    if isinstance(finetune, dict):
        from dataclasses import fields

        from .finetune import FinetuneConfig

        for f in fields(FinetuneConfig):
            if f.name in finetune and ("int" in str(f.type) or "float" in str(f.type)):
                checks.number(f.name, finetune[f.name])


def check_numbers(notebook: Path, params: dict, declared: dict | None = None) -> None:
    """Refuse a string that reads as a number where the notebook's default is a number, or for a numeric
    fine-tuning setting (:func:`check_finetune_numbers`); the error says to write it without quotes.
    ``declared``: :func:`notebook_parameters` of ``notebook``, where the caller has it."""
    import ast

    for k, default in (declared if declared is not None else notebook_parameters(notebook)).items():
        try:
            default = ast.literal_eval(default)
        except (ValueError, SyntaxError):
            continue
        if k in params and isinstance(default, (int, float)) and not isinstance(default, bool):
            checks.number(k, params[k])
    check_finetune_numbers(params.get("finetune"))


def ipc_kernel_manager(ipc_dir: str):
    """A kernel manager whose kernel talks over IPC (Unix sockets in ``ipc_dir``, one directory per kernel)
    instead of TCP ports on localhost: parallel kernels (a sweep's workers) cannot collide on a port or on a
    socket (jupyter_client's default IPC path, ``kernel-ipc`` in the working directory, is shared by every kernel
    started there), and ipykernel has no unencrypted-TCP warning to print."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            return os.path.join(ipc_dir, "kernel")

    return IPCKernelManager


def output_path(notebook: Path, set_name: str, params: dict) -> Path:
    return paths.EXECUTED / notebook.stem / f"{set_name}-{cache.key_of(params, 10)}.ipynb"


def execute(notebook: str | Path, params: dict | None = None, set_name: str = "default",
            timeout: int | None = None) -> Path:
    """Run one notebook with one parameter set; returns the executed notebook's path."""
    import papermill as pm

    nb = find_notebook(notebook)
    params = dict(params or {})
    check_names(nb, params)
    check_numbers(nb, params)
    out = output_path(nb, set_name, params)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.ipynb")
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="isobook-kernel-") as ipc_dir:
        pm.execute_notebook(str(nb), str(tmp), parameters=params, kernel_name="python3", cwd=str(paths.NOTEBOOKS),
                            progress_bar=False, execution_timeout=timeout, kernel_manager_class=ipc_kernel_manager(ipc_dir))
    os.replace(tmp, out)
    cache.write_json_atomic(out.with_suffix(".json"), {"notebook": nb.name, "set": set_name, "parameters": params,
                                                       "seconds": round(time.time() - t0, 1)})
    return out


def _parse(argv):
    ap = argparse.ArgumentParser(prog="python -m helpers.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook")
    ap.add_argument("--params", action="append", default=[], metavar="FILE.yml",
                    help="a named parameter set (file, or a name in params/); repeat to run several")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override one parameter (value parsed as YAML; 1e-9 is a number)")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    ap.add_argument("--dry-run", action="store_true", help="print the runs and their output paths only")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    try:
        nb = find_notebook(args.notebook)
        overrides = parse_overrides(args.p)
        sets = [load_parameter_set(Path(f), nb) for f in args.params] or [("default", {})]
        runs = []
        for name, params in sets:
            params = {**params, **overrides}
            check_names(nb, params)
            check_numbers(nb, params)
            runs.append((name, params))
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, params in runs:
        out = output_path(nb, name, params)
        shown = out.relative_to(paths.ROOT) if out.is_relative_to(paths.ROOT) else out
        print(f"{nb.name} [{name}] {json.dumps(params, sort_keys=True)} -> {shown}", flush=True)
        if not args.dry_run:
            execute(nb, params, name, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``modelyard data validate NAME@v --suite suite.yaml``: check a dataset version against a suite.

Exits 1 when an expectation fails (2 for bad input), so a CI step or a pipeline can gate on it;
``--report`` writes the HTML report with plots either way; its charts load one shared
``plotly.min.js`` beside it, as model cards do (``--self-contained``: inlined, one ~5 MB file).

Every validation is also recorded (unless ``--no-record``) as a run in ``--project`` (default: the
current project) that read the version with context ``validation`` and holds the report as JSON
(``modelyard.data.validation.records``), so the dataset version's page in the web UI lists it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli._output import console, errors_as_exit, fail, fmt_value, print_json, table, verdict_counts


def register(data_app: typer.Typer) -> None:
    @data_app.command("validate")
    def validate(
        ref: Annotated[str, typer.Argument(help="NAME@vN, NAME@latest or NAME@<hash>.")],
        suite: Annotated[Path, typer.Option("--suite", help="Suite of expectations (YAML).")],
        reference: Annotated[
            str | None,
            typer.Option("--reference", help="Reference version for distribution checks (overrides the suite's)."),
        ] = None,
        report: Annotated[Path | None, typer.Option("--report", help="Write the HTML report here.")] = None,
        self_contained: Annotated[
            bool,
            typer.Option(
                "--self-contained",
                help="With --report: plotly.js inlined (one ~5 MB file), not a shared plotly.min.js beside it.",
            ),
        ] = False,
        json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
        project: Annotated[
            str | None, typer.Option("--project", "-p", help="Project of the run that records the report.")
        ] = None,
        record: Annotated[
            bool, typer.Option("--record/--no-record", help="Record the report as a run (the UI lists it).")
        ] = True,
        store: Annotated[str | None, typer.Option("--store", help="Store URI.")] = None,
    ) -> None:
        """Validate a dataset version against a suite; exits 1 if any expectation fails."""
        from modelyard.cli._stores import cli_settings, cli_stores, dataset_service
        from modelyard.data.ingest import validate_version
        from modelyard.data.validation import Suite

        if not suite.is_file():
            fail(f"cannot read suite {suite}: no such file", 2)
        if self_contained and report is None:
            fail("--self-contained needs --report FILE", 2)
        with errors_as_exit():
            service = dataset_service(store)
            loaded = Suite.from_yaml(suite)
            version, result = validate_version(service, ref, loaded, reference=reference)
            recorded = None
            if record:
                from modelyard.data.validation.records import record_validation

                stores = cli_stores(store)
                recorded = record_validation(
                    stores.tracking,
                    stores.artifacts,
                    version,
                    result,
                    project=project or cli_settings(store).project,
                    suite=loaded,
                    reference=reference,
                )
        if report is not None:
            result.to_html(
                report, title=f"Validation of {version.ref} against {loaded.name}", self_contained=self_contained
            )
        if json:
            print_json({"version": version.ref, **result.to_dict(), "run_id": recorded.id if recorded else None})
        else:
            rows = [
                (
                    "pass" if r.success else "FAIL",
                    r.expectation,
                    r.failing_count,
                    ", ".join(f"{k}={fmt_value(v)}" for k, v in r.observed.items()),
                )
                for r in result.results
            ]
            table(f"{version.ref} against {loaded.name}", ["", "expectation", "failing rows", "observed"], rows)
            console.print(
                f"{verdict_counts(len(result.failed), len(result.results))}, {result.rows:,} rows"
                + (f"; report: {report}" if report else "")
                + (f"; recorded in run {recorded.id}" if recorded else "")
            )
        if not result.success:
            raise typer.Exit(1)

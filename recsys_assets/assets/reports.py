"""Reports layer: one self-contained HTML report with the figures as charts."""

import dagster as dg

from recsys_assets.assets.comparison import sampler_comparison
from recsys_assets.assets.metrics import sampler_metrics
from recsys_assets.assets.model import latest_model, model_registry
from recsys_assets.assets.retrieval import retrieval_comparison, retrieval_evaluation
from recsys_assets.config import load_settings
from recsys_assets.ranker.truth import register_truth
from recsys_assets.report.html import build_report
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.tables import ensure_schema, sql_code_version


def write_report(con) -> str:
    settings = load_settings()
    ensure_schema(con)
    register_truth(con, settings.logs_dir)
    return str(build_report(con, settings.reports_dir, latest_model(con)))


@dg.asset(
    group_name="reports", pool=WAREHOUSE_POOL, kinds={"html"},
    code_version=sql_code_version("reports/report/model_comparison", "reports/report/reliability", "reports/report/ctr_by_position",
                                  "reports/report/position_bias", "reports/report/negative_mix", "reports/report/sampler_scalars",
                                  "reports/report/label_exclusions", "reports/report/row_accounting", "model/sampler_comparison/latest",
                                  "reports/report/retrieval_evaluation", "reports/report/retrieval_comparison"),
    deps=[model_registry, sampler_metrics, sampler_comparison, retrieval_evaluation, retrieval_comparison],
    description="An HTML report under RECSYS_HOME/reports/: model comparison, reliability, CTR and examination by "
    "position, sampler comparison, the retrieval model's full-catalog evaluation and comparison, negative mix and "
    "sampler metrics by day, exclusions and row accounting.",
)
def report(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        path = write_report(con)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(path), "url": dg.MetadataValue.url(f"file://{path}")})

"""Shared machinery of the table benchmarks, by concern (this module re-exports it all).

- :mod:`_trials`: trials, running them in parallel, sharing fits, results;
- :mod:`_runs`: resumable runs (``runs.jsonl``), sessions and their wall time;
- :mod:`_methods`: the methods of each table (name -> model factory);
- :mod:`_mrf`: the MRF methods, scored with and without the MRF from one fit;
- :mod:`_report`: markdown tables, CSV files, footers; :mod:`_figures`: plots;
- :mod:`_cli`: command-line pieces; :mod:`_progress`: progress lines.
"""
from _cli import (add_feature_cache_argument, add_mrf_cv_images_argument, data_folder,  # noqa: F401
                  json_dict)
from _figures import plot_error_curves  # noqa: F401
from _methods import MethodRegistry, with_fit_time  # noqa: F401
from _mrf import mrf_and_plain_maps, mrf_grid_text, mrf_note, mrf_trial  # noqa: F401
from _progress import Progress, format_seconds  # noqa: F401
from _report import (FOREST_NOTE, aggregate, command_line, finish, footer_lines,  # noqa: F401
                     format_mean_std, markdown_table, mean_std_table, split_dense, write_csv)
from _trials import (feature_cache, format_run, panel_indices, run_trials,  # noqa: F401
                     share_fits, ship_by_value, trial_result)

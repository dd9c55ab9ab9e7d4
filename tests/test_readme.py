"""The README's Python quickstart runs (on a smaller cohort, so that CI stays fast)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python block"
    code = blocks[0]
    code = code.replace("n=2000", "n=600").replace("images=50", "images=4").replace("n_boot=200", "n_boot=20")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["report"].ok
    assert len(namespace["rad"].features) == 4
    ladder = namespace["ladder"].to_frame()
    assert {"rung", "metric", "estimate", "ci_low", "ci_high"} <= set(ladder.columns)
    assert ladder["estimate"].notna().any()
    assert set(namespace["audit"].by_group["attribute"]) >= {"sex", "ethnicity"}

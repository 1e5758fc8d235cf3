"""The judge: dataset format, runner, metrics and reports of answer quality."""

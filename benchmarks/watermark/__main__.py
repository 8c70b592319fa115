"""Run every watermark benchmark: ``python -m benchmarks.watermark`` (speed, robustness, FP)."""

from benchmarks.watermark import false_positives, robustness, speed

if __name__ == "__main__":
    for module in (speed, robustness, false_positives):
        module.main()

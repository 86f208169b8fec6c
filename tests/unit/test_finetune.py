import torch

from tkre.data.datasets import KShotTask, load_kshot
from tkre.eval.finetune import FinetuneConfig, finetune


def test_finetune_learns_its_training_set_and_reports_the_best_dev_epoch(data_dir):
    task = load_kshot("semeval", 2, 13, data_dir)
    seen = KShotTask(task.train, task.train, task.train, task.label2id, task.no_relation)  # dev = test = train
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the run this test's bounds were seen on
    try:
        result = finetune(seen, FinetuneConfig(epochs=8, lr=3e-4, batch_size=8), seed=13, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert result["best_epoch"] == max(range(8), key=result["dev_curve"].__getitem__)
    assert result["dev_f1"] == max(result["dev_curve"])
    assert result["test_f1"] == result["dev_f1"]  # the test score is the best dev epoch's
    assert result["test_f1"] > 0.8, result["dev_curve"]
    assert result["dev_curve"][-1] > result["dev_curve"][0]

"""The classifier commands' options: the published --every_nth per dataset, and --help showing the defaults."""
import pytest

from utils.classifier.options import parse_classifier_eval_options, parse_classifier_train_options


@pytest.mark.parametrize("dataset,expected", [("Weizmann", 2), ("MUG", 1), ("SynAction", 1), ("synthetic", 1)])
def test_every_nth_defaults_to_the_published_one_per_dataset(dataset, expected, tmp_path):
    config = parse_classifier_train_options(["--dataset", dataset, "--dataroot", str(tmp_path)])
    assert config["every_nth"] == expected
    given = parse_classifier_train_options(["--dataset", dataset, "--dataroot", str(tmp_path), "--every_nth", "3"])
    assert given["every_nth"] == 3


@pytest.mark.parametrize("parse,shown", [
    (parse_classifier_train_options, ["--batch_size BATCH_SIZE clips per batch (default: 32)",
                                      "--total_iters TOTAL_ITERS iterations (one batch each) (default: 100000)",
                                      "--seed SEED seed of Python, NumPy and torch RNGs and the data order "
                                      "(default: 0)", "Weizmann 2, MUG 1",
                                      "--weight_decay WEIGHT_DECAY Adam weight decay (default: 1e-05)"]),
    (parse_classifier_eval_options, ["--which WHICH best | latest | an iteration (for a folder or exp_name) "
                                     "(default: best)", "--device DEVICE auto | cpu | cuda | cuda:N (default: auto)",
                                     "--num_workers NUM_WORKERS DataLoader worker processes (default: 0)"])])
def test_help_shows_the_defaults(parse, shown, capsys):
    with pytest.raises(SystemExit):
        parse(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for piece in shown:
        assert piece in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_a_bad_every_nth_is_one_line(tmp_path):
    from utils.training.options import OptionError
    with pytest.raises(OptionError, match=r"^--every_nth must be a positive integer, got 0$"):
        parse_classifier_train_options(["--dataset", "MUG", "--dataroot", str(tmp_path), "--every_nth", "0"])

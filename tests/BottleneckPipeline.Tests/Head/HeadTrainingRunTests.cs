using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;
using SixLabors.ImageSharp;

namespace BottleneckPipeline.Tests.Head;

public class HeadTrainingRunTests
{
    private static readonly float[][] Centres = SyntheticVectors.Centres(3, 16, 1.0, 21);
    private static readonly LabelledVectors Train = SyntheticVectors.Sample(Centres, 30, 1.0, 22);
    private static readonly LabelledVectors Validation = SyntheticVectors.Sample(Centres, 10, 1.0, 23, "val");

    [Fact]
    public void Writes_head_log_and_curve_and_the_head_round_trips()
    {
        using var dir = new TempDir();
        var paths = new HeadOutputPaths(dir["head.msgpack"], dir["reports/training_log.csv"], dir["reports/learning_curve.png"]);
        var config = new TrainHeadConfig { Steps = 100, EvalInterval = 20, Optimizer = OptimizerName.Rmsprop };
        var hash = HeadTrainingRun.InputsHash("cfg", "fp-A", "upstream-1");

        Assert.False(HeadTrainingRun.IsUpToDate(paths, hash));
        var (written, result) = HeadTrainingRun.Run(Train, Validation, config, "resnet18", "fp-A", hash, paths);

        var loaded = HeadArtifact.Load(paths.HeadPath, "fp-A");
        Assert.Equal(written.Weights, loaded.Weights);
        Assert.Equal(written.Bias, loaded.Bias);
        Assert.Equal(["class0", "class1", "class2"], loaded.LabelNames);
        Assert.Equal(16, loaded.Dimension);
        Assert.Equal("resnet18", loaded.BackboneName);
        Assert.Equal(hash, loaded.InputsHash);
        Assert.Equal(result.BestStep, loaded.Metrics.BestStep);
        Assert.Equal(result.Validation.Accuracy, loaded.Metrics.ValidationAccuracy);
        Assert.Contains("\"optimizer\":\"rmsprop\"", loaded.TrainingConfigJson);
        Assert.Contains("\"eval_interval\":20", loaded.TrainingConfigJson);
        Assert.Equal(result.Head.Probabilities(Validation.Rows[0]), loaded.Head.Probabilities(Validation.Rows[0]));

        var csv = File.ReadAllLines(paths.LogCsvPath);
        Assert.Equal(TrainingLog.CsvHeader, csv[0]);
        Assert.Equal(5, csv.Length - 1);
        Assert.StartsWith("20,", csv[1]);
        Assert.Equal(5, csv[1].Split(',').Length);
        var read = TrainingLog.TryRead(paths.LogCsvPath)!;
        Assert.Equal(result.Log.Select(r => r.Step), read.Select(r => r.Step));
        Assert.Equal(result.Log[^1].ValidationLoss, read[^1].ValidationLoss, 5);
        Assert.Equal(result.Log[^1].TrainAccuracy, read[^1].TrainAccuracy, 5);

        using (var png = Image.Load(paths.CurvePngPath))
        {
            Assert.Equal(900, png.Width);
            Assert.Equal(500, png.Height);
        }

        Assert.True(HeadTrainingRun.IsUpToDate(paths, hash));
        Assert.False(HeadTrainingRun.IsUpToDate(paths, HeadTrainingRun.InputsHash("cfg2", "fp-A", "upstream-1")));
        Assert.False(HeadTrainingRun.IsUpToDate(paths, HeadTrainingRun.InputsHash("cfg", "fp-A", "upstream-2")));
    }

    [Fact]
    public void Execute_trains_once_then_is_up_to_date_without_loading_vectors()
    {
        using var dir = new TempDir();
        var config = new PipelineConfig
        {
            Workspace = dir.Path,
            TrainHead = new TrainHeadConfig { Steps = 40, EvalInterval = 10 },
            SectionHashes = new Dictionary<string, string> { ["train_head"] = "s1" },
        };
        var loads = 0;
        (LabelledVectors, LabelledVectors?) Load() { loads++; return (Train, Validation); }

        var first = HeadTrainingRun.Execute(config, "resnet18", "fp", "up-1", Load);
        Assert.False(first.UpToDate);
        Assert.Contains("best step", first.Summary);
        Assert.True(File.Exists(Path.Combine(dir.Path, "head.msgpack")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "reports", "learning_curve.png")));

        var second = HeadTrainingRun.Execute(config, "resnet18", "fp", "up-1", Load);
        Assert.True(second.UpToDate);
        Assert.Equal("TrainHead: up to date", second.Summary);
        Assert.Equal(1, loads);

        Assert.False(HeadTrainingRun.Execute(config, "resnet18", "fp", "up-2", Load).UpToDate);
        config.SectionHashes = new Dictionary<string, string> { ["train_head"] = "s2" };
        Assert.False(HeadTrainingRun.Execute(config, "resnet18", "fp", "up-2", Load).UpToDate);
        Assert.Equal(3, loads);
    }

    [Fact]
    public void A_head_from_another_backbone_is_refused_naming_both_fingerprints()
    {
        using var dir = new TempDir();
        var result = HeadTrainer.Train(Train, Validation, new TrainHeadConfig { Steps = 10, EvalInterval = 5 });
        HeadTrainingRun.ToArtifact(result, new TrainHeadConfig(), "resnet18", "fp-old", "h").Save(dir["head.msgpack"]);

        var e = Assert.Throws<InputException>(() => HeadArtifact.Load(dir["head.msgpack"], "fp-new"));
        Assert.Contains("fp-old", e.Message);
        Assert.Contains("fp-new", e.Message);
        Assert.Contains("re-run TrainHead", e.Message);
    }

    [Fact]
    public void Missing_or_corrupt_head_is_an_input_error()
    {
        using var dir = new TempDir();
        Assert.Contains("run TrainHead", Assert.Throws<InputException>(() => HeadArtifact.Load(dir["none.msgpack"])).Message);
        File.WriteAllBytes(dir["bad.msgpack"], [0xc1, 0x00, 0x13]);
        var bad = Assert.Throws<DamagedArtifactException>(() => HeadArtifact.Load(dir["bad.msgpack"]));
        Assert.Equal((ArtifactFault.Unverifiable, ExitCodes.BadInput), (bad.Fault, bad.ExitCode));
        Assert.Contains("make train-head", bad.Message);
    }

    [Fact]
    public void A_head_carries_its_checksum_and_any_flipped_bit_or_a_missing_trailer_is_refused_and_retrained()
    {
        using var dir = new TempDir();
        var result = HeadTrainer.Train(Train, Validation, new TrainHeadConfig { Steps = 10, EvalInterval = 5 });
        var path = dir["head.msgpack"];
        var sha = HeadTrainingRun.ToArtifact(result, new TrainHeadConfig(), "resnet18", "fp", "h").Save(path);
        Assert.Equal(Sha256.OfFile(path), sha);
        var clean = File.ReadAllBytes(path);
        Assert.Equal(result.Head.Weights, HeadArtifact.Load(path).Weights);
        var paths = new HeadOutputPaths(path, dir["log.csv"], dir["curve.png"]);
        File.WriteAllText(paths.LogCsvPath, "");
        File.WriteAllText(paths.CurvePngPath, "");
        for (var bit = 0; bit < clean.Length * 8; bit += 61)
        {
            var damaged = (byte[])clean.Clone();
            damaged[bit / 8] ^= (byte)(1 << (bit % 8));
            File.WriteAllBytes(path, damaged);
            var fault = Assert.Throws<DamagedArtifactException>(() => HeadArtifact.Load(path)).Fault;
            Assert.True(fault is ArtifactFault.Damaged or ArtifactFault.Unverifiable, $"bit {bit}: {fault}");
            var lines = new List<string>();
            Assert.False(HeadTrainingRun.IsUpToDate(paths, "h", dir.Path, lines.Add));
            Assert.Equal($"train-head: head.msgpack {DamagedArtifactException.Problem(fault)}: retraining", Assert.Single(lines));
        }
        File.WriteAllBytes(path, clean[..^ChecksumTrailer.Size]); // as the versions before checksums wrote it
        Assert.Equal(ArtifactFault.Unverifiable, Assert.Throws<DamagedArtifactException>(() => HeadArtifact.Load(path)).Fault);
        File.WriteAllBytes(path, clean);
        Assert.True(HeadTrainingRun.IsUpToDate(paths, "h"));
    }

    [Fact]
    public void A_training_log_without_validation_reads_back_as_NaN_and_a_foreign_file_as_none()
    {
        using var dir = new TempDir();
        TrainingLog.WriteCsv(dir["log.csv"], [new TrainingLogRow(10, 0.5, 0.75, double.NaN, double.NaN)]);
        var row = Assert.Single(TrainingLog.TryRead(dir["log.csv"])!);
        Assert.Equal((10, 0.5, 0.75), (row.Step, row.TrainLoss, row.TrainAccuracy));
        Assert.True(double.IsNaN(row.ValidationLoss) && double.IsNaN(row.ValidationAccuracy));

        Assert.Null(TrainingLog.TryRead(dir["missing.csv"]));
        File.WriteAllText(dir["other.csv"], "a,b\n1,2\n");
        Assert.Null(TrainingLog.TryRead(dir["other.csv"]));
        File.WriteAllText(dir["cut.csv"], TrainingLog.CsvHeader + "\n10,0.5,x,,\n");
        Assert.Null(TrainingLog.TryRead(dir["cut.csv"]));
    }
}

using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.FineTune;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.Training;
using static BottleneckPipeline.Tests.Fixtures.TestModel;

namespace BottleneckPipeline.Tests.FineTune;

/// <summary>What FineTune settles before reading any image: its graphs, and the learning rate of each step.</summary>
public class FineTuneGraphTests
{
    private static BackboneSpec Spec(TestModel m, string features) => new()
    {
        Name = BackboneName.Custom,
        ModelPath = "test.onnx",
        ModelSha256 = "",
        InputName = m.Input,
        InputSize = 8,
        Layout = TensorLayout.Nchw,
        Preprocessing = Preprocessing.Inception(),
        Resize = ResizeMode.Stretch,
        BottleneckTensor = features,
        BottleneckIsGraphOutput = true,
        BottleneckReason = "",
        Dimension = 4,
        FixedBatch = false,
        Fingerprint = "f",
        ImageSharpFingerprint = "f",
    };

    /// <summary>Two stages: a conv at 8x8, a stride-2 conv to 4x4, then Sigmoid, which the engine cannot differentiate.</summary>
    private static (TestModel Model, string Features) Net()
    {
        var m = new TestModel([1, 3, 8, 8]);
        var a = m.Node("Relu", [m.Node("Conv", [m.Input, m.Weight("a", [4, 3, 3, 3])], Ints("pads", 1, 1, 1, 1))]);
        var b = m.Node("Relu", [m.Node("Conv", [a, m.Weight("b", [4, 4, 3, 3])], Ints("pads", 1, 1, 1, 1), Ints("strides", 2, 2))]);
        var c = m.Node("Relu", [m.Node("Conv", [b, m.Weight("c", [4, 4, 3, 3])], Ints("pads", 1, 1, 1, 1), Ints("strides", 2, 2))]);
        var sigmoid = m.Node("Sigmoid", [c]);
        var features = m.Node("Flatten", [m.Node("GlobalAveragePool", [sigmoid])], Int("axis", 1));
        m.Output(features);
        return (m, features);
    }

    [Fact]
    public void An_op_the_engine_cannot_differentiate_in_the_trainable_part_is_exit_2_naming_it_before_any_image()
    {
        var (m, features) = Net();
        var config = new PipelineConfig();
        var e = Assert.Throws<UnsupportedOperatorException>(() =>
            FineTuneStage.BuildGraphs(config, Spec(m, features), m.Model, TrainableDepth.LastStage, classes: 3));
        Assert.Equal("Sigmoid", e.OpType);
        Assert.Equal(ExitCodes.BadConfig, e.ExitCode);
        Assert.Contains("fine_tune.trainable", e.Message);
    }

    [Fact]
    public void Cosine_starts_at_the_learning_rate_halves_midway_and_ends_near_zero_and_constant_stays()
    {
        var cosine = new FineTuneConfig { LearningRate = 0.01 };
        Assert.Equal(0.01, FineTuneTrainer.LearningRate(cosine, 0, 100, 10), 12);
        Assert.Equal(0.005, FineTuneTrainer.LearningRate(cosine, 50, 100, 10), 12);
        Assert.True(FineTuneTrainer.LearningRate(cosine, 99, 100, 10) < 1e-5);
        var constant = new FineTuneConfig { LearningRate = 0.01, Schedule = LearningRateSchedule.Constant };
        Assert.Equal(0.01, FineTuneTrainer.LearningRate(constant, 99, 100, 10));
    }

    [Fact]
    public void A_checkpoint_keeps_the_early_stopping_state()
    {
        using var t = new TempDir();
        var stopping = new EarlyStopping(patience: 3);
        stopping.Observe(1, new BottleneckPipeline.Head.SplitScore(0.42, 0.875));
        stopping.Observe(2, new BottleneckPipeline.Head.SplitScore(0.40, 0.850));
        var state = new TrainingState
        {
            InputsHash = "h",
            EpochsDone = 2,
            Weights = [1, 2, 3],
            BestWeights = [4, 5, 6],
            OptimizerState = [[7, 8, 9]],
            OptimizerSteps = 10,
            Stopping = stopping,
            Log = [new EpochRow(1, 5, 0.5, 0.8, 0.42, 0.875, 1.5, 20), new EpochRow(2, 10, 0.4, 0.9, 0.40, 0.850, 1.4, 21)],
        };
        Checkpoint.Save(t["checkpoint.bin"], state);
        var other = Checkpoint.TryLoad(t["checkpoint.bin"], "other inputs", 3, t.Path);
        Assert.Null(other.State);
        Assert.Equal("fine-tune: checkpoint.bin was written for other inputs (fine_tune settings, head or data): discarded, training starts from scratch",
            other.Discarded);
        var (back, discarded) = Checkpoint.TryLoad(t["checkpoint.bin"], "h", 3, t.Path);
        Assert.Null(discarded);
        Assert.NotNull(back);
        var restored = back.Stopping;
        Assert.Equal((1, 0.875, 0.42, 1, 3), (back.BestEpoch, restored.Best.Accuracy, restored.Best.Loss, restored.WithoutImprovement, restored.Patience));
        Assert.Equal((2, 10), (back.EpochsDone, back.OptimizerSteps));
        Assert.Equal(state.Log, back.Log);
        Assert.Equal([4f, 5f, 6f], back.BestWeights);
    }

    [Fact]
    public void Every_trainable_value_maps_to_a_depth_of_its_own()
    {
        var parts = Enum.GetValues<TrainablePart>();
        Assert.Equal([TrainableDepth.LastStage, TrainableDepth.LastTwoStages, TrainableDepth.All], parts.Select(FineTuneStage.Depth));
    }

    [Theory]
    [InlineData(TrainablePart.LastStage, null, 0.01)]
    [InlineData(TrainablePart.LastTwoStages, null, 0.01)]
    [InlineData(TrainablePart.All, null, 0.003)]
    [InlineData(TrainablePart.All, 0.02, 0.02)]
    [InlineData(TrainablePart.LastStage, 0.005, 0.005)]
    public void An_unset_learning_rate_is_chosen_by_depth_and_a_set_one_is_kept(TrainablePart trainable, double? set, double peak)
    {
        var config = new FineTuneConfig { Trainable = trainable, LearningRate = set };
        Assert.Equal(peak, config.PeakLearningRate);
        Assert.Equal(peak, FineTuneTrainer.LearningRate(config, 0, 100, 10), 12);
    }

    [Fact]
    public void Warmup_rises_linearly_to_the_peak_then_cosine_runs_over_the_remaining_steps()
    {
        // 2 warm-up epochs of 10 steps: steps 0..19 rise, step 20 is the peak, cosine halves at 20 + 80/2.
        var config = new FineTuneConfig { LearningRate = 0.01, WarmupEpochs = 2 };
        Assert.Equal(0.01 / 21, FineTuneTrainer.LearningRate(config, 0, 100, 10), 12);
        Assert.Equal(0.01 * 20 / 21, FineTuneTrainer.LearningRate(config, 19, 100, 10), 12);
        Assert.Equal(0.01, FineTuneTrainer.LearningRate(config, 20, 100, 10), 12);
        Assert.Equal(0.005, FineTuneTrainer.LearningRate(config, 60, 100, 10), 12);
        Assert.True(FineTuneTrainer.LearningRate(config, 99, 100, 10) < 1e-5);
        // More warm-up than steps still leaves one step at the peak.
        Assert.Equal(0.01, FineTuneTrainer.LearningRate(new FineTuneConfig { LearningRate = 0.01, WarmupEpochs = 50 }, 99, 100, 10), 12);
    }

    [Fact]
    public void Label_smoothing_moves_s_of_each_training_target_evenly_onto_the_classes_and_zero_keeps_one_hot()
    {
        var split = new LabelsOnly([new("a", 2, "a.jpg", "a.jpg"), new("b", 0, "b.jpg", "b.jpg")]);
        var targets = new float[2 * 4];
        FineTuneTrainer.Targets(split, [1, 0], targets, 4, smoothing: 0.2f);
        Assert.Equal([0.85f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.85f, 0.05f], targets);
        FineTuneTrainer.Targets(split, [0, 1], targets, 4, smoothing: 0f);
        Assert.Equal([0f, 0f, 1f, 0f, 1f, 0f, 0f, 0f], targets);
    }

    private sealed class LabelsOnly(IReadOnlyList<FineTuneExample> examples) : ActivationSource(examples, 1)
    {
        public override int DrawView(int epoch, BottleneckPipeline.Training.SeededRandom random) => 0;
        public override void Write(int index, int view, Span<float> dest) => dest.Clear();
    }
}

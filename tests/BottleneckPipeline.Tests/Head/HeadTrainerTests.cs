using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Tests.Head;

public class HeadTrainerTests
{
    private static readonly float[][] Centres = SyntheticVectors.Centres(5, 64, 1.0, 11);
    private static readonly LabelledVectors Train = SyntheticVectors.Sample(Centres, 80, 1.0, 1, "train");
    private static readonly LabelledVectors Validation = SyntheticVectors.Sample(Centres, 20, 1.0, 2, "val");
    private static readonly LabelledVectors Test = SyntheticVectors.Sample(Centres, 40, 1.0, 3, "test");

    [Theory]
    [InlineData(OptimizerName.Sgd, 0.05)]
    [InlineData(OptimizerName.Rmsprop, 0.01)]
    [InlineData(OptimizerName.Adam, 0.01)]
    public void Learns_separable_clusters_with_each_optimizer(OptimizerName optimizer, double learningRate)
    {
        var config = new TrainHeadConfig { Optimizer = optimizer, LearningRate = learningRate, Steps = 300, BatchSize = 32, EvalInterval = 25 };
        var result = HeadTrainer.Train(Train, Validation, config);

        var accuracy = SyntheticVectors.Accuracy(result.Head, Test);
        Assert.True(accuracy > 0.95, $"{optimizer}: held-out accuracy {accuracy:P1}");
        Assert.True(result.Validation.Loss < Math.Log(5) / 4, $"{optimizer}: validation loss {result.Validation.Loss} barely below chance");
    }

    [Fact]
    public void Weights_are_bitwise_identical_for_one_or_many_threads()
    {
        var centres = SyntheticVectors.Centres(12, 256, 0.5, 5);
        var train = SyntheticVectors.Sample(centres, 40, 1.0, 6);
        var validation = SyntheticVectors.Sample(centres, 10, 1.0, 7);
        var config = new TrainHeadConfig { Optimizer = OptimizerName.Adam, Steps = 60, BatchSize = 128, EvalInterval = 20, L2 = 1e-3, LabelSmoothing = 0.1 };

        // MinWorkToSplit 0 forces the parallel code path even for these small loops.
        var one = HeadTrainer.Train(train, validation, config, new HeadTrainingOptions { MaxDegreeOfParallelism = 1, MinWorkToSplit = 0 });
        var many = HeadTrainer.Train(train, validation, config, new HeadTrainingOptions { MaxDegreeOfParallelism = 8, MinWorkToSplit = 0 });
        var defaults = HeadTrainer.Train(train, validation, config);

        Assert.Equal(Bits(one.Head), Bits(many.Head));
        Assert.Equal(Bits(one.Head), Bits(defaults.Head));
        Assert.Equal(one.Log, many.Log);

        var otherSeed = HeadTrainer.Train(train, validation,
            new TrainHeadConfig { Optimizer = OptimizerName.Adam, Steps = 60, BatchSize = 128, EvalInterval = 20, L2 = 1e-3, LabelSmoothing = 0.1, Seed = 43 });
        Assert.NotEqual(Bits(one.Head), Bits(otherSeed.Head));
    }

    [Fact]
    public void Early_stopping_keeps_the_best_validation_checkpoint_by_accuracy_then_loss()
    {
        // 40% of validation labels are wrong: validation accuracy stops rising once the head is right,
        // and the loss rises as it grows confident on the mislabelled rows (no L2 to hold it back).
        var validation = SyntheticVectors.Relabel(Validation, i => i % 5 < 2);
        var config = new TrainHeadConfig
        {
            Optimizer = OptimizerName.Adam,
            LearningRate = 0.001,
            L2 = 0,
            Steps = 3000,
            BatchSize = 32,
            EvalInterval = 5,
            Patience = 4,
        };
        var result = HeadTrainer.Train(Train, validation, config);

        Assert.True(result.StoppedEarly);
        Assert.Equal(result.BestStep + 4 * 5, result.StepsRun);
        var best = result.Log.Single(r => r.Step == result.BestStep);
        Assert.True(result.BestStep > result.Log[0].Step, "validation should improve at first");
        // No evaluation, before or after, is better by the rule; none after it ties it either.
        var bestScore = new SplitScore(best.ValidationLoss, best.ValidationAccuracy);
        Assert.All(result.Log, r => Assert.False(EarlyStopping.IsBetter(new SplitScore(r.ValidationLoss, r.ValidationAccuracy), bestScore)));
        Assert.Equal(result.Log.Max(r => r.ValidationAccuracy), best.ValidationAccuracy);
        Assert.Equal(result.Log.Where(r => r.ValidationAccuracy == best.ValidationAccuracy).Min(r => r.ValidationLoss), best.ValidationLoss);
        Assert.Equal(best.ValidationLoss, result.Validation.Loss);

        // The kept weights are exactly those after BestStep steps: retrain that far without validation.
        var replay = HeadTrainer.Train(Train, null, new TrainHeadConfig
        {
            Optimizer = OptimizerName.Adam,
            LearningRate = 0.001,
            L2 = 0,
            Steps = result.BestStep,
            BatchSize = 32,
            EvalInterval = 5,
            Patience = 4,
        });
        Assert.Equal(Bits(replay.Head), Bits(result.Head));
        var last = HeadTrainer.Train(Train, null, new TrainHeadConfig
        {
            Optimizer = OptimizerName.Adam,
            LearningRate = 0.001,
            L2 = 0,
            Steps = result.StepsRun,
            BatchSize = 32,
            EvalInterval = 5,
            Patience = 4,
        });
        Assert.NotEqual(Bits(last.Head), Bits(result.Head));
    }

    [Fact]
    public void Epochs_override_steps()
    {
        var config = new TrainHeadConfig { Epochs = 3, Steps = 5, BatchSize = 64, EvalInterval = 1000 };
        var result = HeadTrainer.Train(Train, Validation, config);
        Assert.Equal((3 * 400 + 63) / 64, result.StepsRun);
        Assert.Equal(result.StepsRun, result.Log.Single().Step);
    }

    [Fact]
    public void Without_validation_the_last_weights_are_kept()
    {
        var config = new TrainHeadConfig { Steps = 40, EvalInterval = 10 };
        var result = HeadTrainer.Train(Train, null, config);
        Assert.Equal(40, result.BestStep);
        Assert.True(double.IsNaN(result.Log[^1].ValidationLoss));
        Assert.False(result.Validation.HasValue);
    }

    [Fact]
    public void Divergence_is_a_config_error_naming_the_learning_rate()
    {
        var wild = Train.Rows.Select(r => r.Select(v => v * 1e18f).ToArray()).ToList();
        var train = new LabelledVectors(wild, Train.Labels, Train.LabelNames, Train.ContentIds, Train.RelativePaths);
        var config = new TrainHeadConfig { Optimizer = OptimizerName.Sgd, LearningRate = 10, Steps = 50, EvalInterval = 10 };
        var e = Assert.Throws<BottleneckPipeline.Runtime.ConfigException>(() => HeadTrainer.Train(train, null, config));
        Assert.Contains("train_head.learning_rate", e.Message);
    }

    private static int[] Bits(SoftmaxHead head) =>
        head.Weights.Concat(head.Bias).Select(BitConverter.SingleToInt32Bits).ToArray();
}

using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Training;

/// <summary>How training may use the machine; never changes the result.</summary>
public sealed record HeadTrainingOptions
{
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Loops smaller than this many multiply-adds run on one thread.</summary>
    public long MinWorkToSplit { get; init; } = ParallelWork.DefaultMinWorkToSplit;
}

public sealed record HeadTrainingResult(
    SoftmaxHead Head,
    IReadOnlyList<TrainingLogRow> Log,
    int BestStep,
    int StepsRun,
    int StepsPlanned,
    bool StoppedEarly,
    SplitScore Train,
    SplitScore Validation);

/// <summary>
/// Fits the softmax layer on train vectors with mini-batches, evaluating on validation every
/// eval_interval steps and keeping the best validation checkpoint by <see cref="EarlyStopping"/>'s rule
/// (higher accuracy, then lower loss), stopping after `patience` evaluations without a better one.
/// Same vectors, config and seed give bitwise-identical weights.
/// </summary>
public static class HeadTrainer
{
    /// <param name="ct">Checked every step: an interrupted run writes nothing.</param>
    public static HeadTrainingResult Train(LabelledVectors train, LabelledVectors? validation, TrainHeadConfig config, HeadTrainingOptions? options = null,
        CancellationToken ct = default)
    {
        options ??= new HeadTrainingOptions();
        if (train.Count == 0) throw new ArgumentException("the train split is empty");
        if (validation is { Count: 0 }) validation = null;
        if (validation is not null && (validation.Dimension != train.Dimension || !validation.LabelNames.SequenceEqual(train.LabelNames)))
            throw new ArgumentException("validation vectors must share the train split's dimension and label names");

        var classes = train.ClassCount;
        var dim = train.Dimension;
        var parallel = new ParallelWork(options.MaxDegreeOfParallelism, options.MinWorkToSplit);
        var random = new SeededRandom(config.Seed);

        var parameters = new float[classes * dim + classes];
        // Small random weights (retrain.py uses stddev 0.001) break symmetry; the bias starts at zero.
        for (var i = 0; i < classes * dim; i++) parameters[i] = (float)(0.001 * random.NextGaussian());

        var steps = PlannedSteps(config, train.Count);
        var batchSize = config.BatchSize;
        var sampler = BatchSampler.Create(train, config.ClassBalanced, random);
        var optimizer = Optimizer.Create(config.Optimizer, config.LearningRate, config.Momentum, parameters.Length);

        var trainMatrix = new ScoringSet(train);
        var validationMatrix = validation is null ? null : new ScoringSet(validation);
        var batchRows = new int[batchSize];
        var batchX = new float[batchSize * dim];
        var batchLabels = new int[batchSize];
        var gradient = new float[parameters.Length];
        var logits = new float[batchSize * classes];
        var l2 = (float)config.L2;
        var smoothing = (float)config.LabelSmoothing;

        var log = new List<TrainingLogRow>();
        var best = parameters.ToArray();
        var stopping = new EarlyStopping(config.Patience);
        var stoppedEarly = false;
        var step = 0;
        while (step < steps)
        {
            ct.ThrowIfCancellationRequested();
            sampler.Next(batchRows);
            for (var k = 0; k < batchSize; k++)
            {
                train.Vectors.CopyRow(batchRows[k], batchX.AsSpan(k * dim, dim));
                batchLabels[k] = train.Labels[batchRows[k]];
            }
            SoftmaxObjective<float>.LossAndGradient(parameters, classes, dim, batchX, batchLabels, batchSize, l2, smoothing, gradient, logits, parallel);
            optimizer.Step(parameters, gradient);
            step++;

            if (step % config.EvalInterval != 0 && step != steps) continue;
            var trainScore = trainMatrix.Score(parameters, classes, parallel);
            if (!double.IsFinite(trainScore.Loss))
                throw new ConfigException(
                    $"head training diverged (train loss {trainScore.Loss} at step {step}): lower train_head.learning_rate " +
                    $"(now {config.LearningRate.ToString(System.Globalization.CultureInfo.InvariantCulture)}) in the config file.");
            var validationScore = validationMatrix?.Score(parameters, classes, parallel) ?? SplitScore.None;
            var row = new TrainingLogRow(step, trainScore.Loss, trainScore.Accuracy, validationScore.Loss, validationScore.Accuracy);
            log.Add(row);

            if (stopping.Observe(step, validationScore)) parameters.CopyTo(best, 0);
            else if (stopping.ShouldStop)
            {
                stoppedEarly = step < steps;
                break;
            }
        }

        var bestStep = stopping.BestAt;
        var head = SoftmaxHead.FromParameters(best, train.LabelNames, dim);
        var bestRow = log.First(r => r.Step == bestStep);
        return new HeadTrainingResult(head, log, bestStep, step, steps, stoppedEarly,
            new SplitScore(bestRow.TrainLoss, bestRow.TrainAccuracy),
            new SplitScore(bestRow.ValidationLoss, bestRow.ValidationAccuracy));
    }

    /// <summary>Steps to run: `steps`, or epochs over the train split when `epochs` is set.</summary>
    public static int PlannedSteps(TrainHeadConfig config, int trainCount) =>
        config.Epochs is { } epochs
            ? (int)Math.Max(1, Math.Min(int.MaxValue, ((long)epochs * trainCount + config.BatchSize - 1) / config.BatchSize))
            : config.Steps;
}

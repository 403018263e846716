using System.Diagnostics;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// The training loop. Each epoch: a shuffled order and one view per image, both drawn from a
/// generator seeded by (seed, epoch); mini-batches with the learning rate of their step (cosine
/// or constant) and weight decay; then the validation split's plain views. The best epoch by
/// <see cref="EarlyStopping"/>'s rule (higher validation accuracy, then lower loss) is kept, and
/// training stops after `patience` epochs without a better one. A checkpoint after every epoch lets
/// a killed run resume bitwise.
/// </summary>
internal static class FineTuneTrainer
{
    /// <param name="startWeights">The weights training started from (before any checkpoint was restored), for fine_tune.l2_sp.</param>
    public static TrainingState Train(TrainingSession session, ActivationSource train, ActivationSource validation, FineTuneConfig config,
        TrainingState state, Action<TrainingState> checkpoint, Action<EpochProgress>? progress, CancellationToken ct, float[]? startWeights = null)
    {
        if (config.L2Sp > 0 && startWeights is null) throw new ArgumentException("fine_tune.l2_sp needs the starting weights", nameof(startWeights));
        if (train.Count == 0) throw new ArgumentException("the train split is empty");
        var classes = session.Parameters.Single(p => p.Name == SoftmaxCrossEntropy.HeadBias).Shape[0];
        var batch = config.BatchSize;
        var stepsPerEpoch = (train.Count + batch - 1) / batch;
        var totalSteps = config.Epochs * stepsPerEpoch;
        var activations = new float[batch * train.ValuesPerExample];
        var targets = new float[batch * classes];
        var order = new int[train.Count];
        var views = new int[train.Count];
        var scoring = new ScoringBuffers(activations, targets); // free once the epoch's steps are done

        for (var epoch = state.EpochsDone; epoch < config.Epochs && !state.StoppedEarly; epoch++)
        {
            var clock = Stopwatch.StartNew();
            var random = new SeededRandom(EpochSeed(config.Seed, epoch));
            for (var i = 0; i < order.Length; i++) order[i] = i;
            random.Shuffle(order);
            for (var i = 0; i < views.Length; i++) views[i] = train.DrawView(epoch, random);

            double lossSum = 0;
            var correct = 0;
            for (var step = 0; step < stepsPerEpoch; step++)
            {
                ct.ThrowIfCancellationRequested();
                var start = step * batch;
                var n = Math.Min(batch, train.Count - start);
                var rows = order.AsSpan(start, n);
                train.WriteBatch(rows, views.AsSpan(start, n), activations, ct);
                Targets(train, rows, targets, (int)classes, (float)config.LabelSmoothing);
                session.Optimizer.LearningRate = (float)LearningRate(config, epoch * stepsPerEpoch + step, totalSteps, stepsPerEpoch);
                var result = session.Step(activations, targets, n, (float)config.WeightDecay, startWeights, (float)config.L2Sp);
                if (!float.IsFinite(result.Loss))
                    throw new Runtime.ConfigException(
                        FormattableString.Invariant($"fine-tuning diverged (loss {result.Loss} at epoch {epoch + 1}, step {step + 1}): ") +
                        FormattableString.Invariant($"lower fine_tune.learning_rate (now {config.PeakLearningRate}) in the config file."));
                lossSum += result.Loss * n;
                correct += Correct(result.Probabilities, targets, n, (int)classes);
                progress?.Invoke(new EpochProgress(epoch + 1, config.Epochs, step + 1, stepsPerEpoch, start + n));
            }
            var seconds = clock.Elapsed.TotalSeconds;
            var (validationLoss, validationAccuracy) = Score(session, validation, batch, (int)classes, ct, scoring);
            state.Log.Add(new EpochRow(epoch + 1, (epoch + 1) * stepsPerEpoch, lossSum / train.Count, (double)correct / train.Count,
                validationLoss, validationAccuracy, seconds, train.Count / seconds));

            if (state.Stopping.Observe(epoch + 1, new SplitScore(validationLoss, validationAccuracy))) session.Weights.CopyTo(state.BestWeights, 0);
            else if (state.Stopping.ShouldStop && epoch + 1 < config.Epochs) state.StoppedEarly = true;
            state.EpochsDone = epoch + 1;
            Capture(session, state);
            checkpoint(state);
        }
        return state;
    }

    /// <summary>
    /// The rate of a step. Warm-up steps (warmup_epochs x steps per epoch) rise linearly to the peak, so the
    /// head TrainHead trained is not shaken by full-size steps through a backbone it has not yet adapted to;
    /// then the peak, and cosine reaches 0 after the last step (PyTorch's CosineAnnealingLR over the rest).
    /// </summary>
    public static double LearningRate(FineTuneConfig config, int step, int totalSteps, int stepsPerEpoch)
    {
        var warmup = Math.Min(config.WarmupEpochs * stepsPerEpoch, totalSteps - 1);
        if (step < warmup) return config.PeakLearningRate * (step + 1) / (warmup + 1);
        return config.Schedule switch
        {
            LearningRateSchedule.Cosine => config.PeakLearningRate * 0.5 * (1 + Math.Cos(Math.PI * (step - warmup) / (totalSteps - warmup))),
            _ => config.PeakLearningRate,
        };
    }

    /// <summary>A batch's inputs and targets for scoring, reused across epochs (a batch of cut activations is megabytes).</summary>
    public sealed record ScoringBuffers(float[] Activations, float[] Targets);

    /// <summary>Mean loss and accuracy over a split's plain views with the current weights.</summary>
    public static (double Loss, double Accuracy) Score(TrainingSession session, ActivationSource split, int batch, int classes, CancellationToken ct,
        ScoringBuffers? buffers = null)
    {
        if (split.Count == 0) return (double.NaN, double.NaN);
        buffers ??= new ScoringBuffers(new float[batch * split.ValuesPerExample], new float[batch * classes]);
        var (activations, targets) = (buffers.Activations, buffers.Targets);
        var plain = new int[batch];
        double lossSum = 0;
        var correct = 0;
        for (var start = 0; start < split.Count; start += batch)
        {
            ct.ThrowIfCancellationRequested();
            var n = Math.Min(batch, split.Count - start);
            var rows = Enumerable.Range(start, n).ToArray();
            split.WriteBatch(rows, plain.AsSpan(0, n), activations, ct);
            Targets(split, rows, targets, classes, smoothing: 0f);
            var result = session.Score(activations, targets, n);
            lossSum += result.Loss * n;
            correct += Correct(result.Probabilities, targets, n, classes);
        }
        return (lossSum / split.Count, (double)correct / split.Count);
    }

    /// <summary>Copies the session's weights and optimizer state into the state, for the checkpoint.</summary>
    public static void Capture(TrainingSession session, TrainingState state)
    {
        session.Weights.CopyTo(state.Weights, 0);
        var optimizer = session.Optimizer.State;
        for (var i = 0; i < optimizer.Count; i++) optimizer[i].CopyTo(state.OptimizerState[i], 0);
        state.OptimizerSteps = session.Optimizer.StepCount;
    }

    /// <summary>Puts a checkpoint's weights and optimizer state back into the session.</summary>
    public static void Restore(TrainingSession session, TrainingState state)
    {
        state.Weights.CopyTo(session.Weights, 0);
        var optimizer = session.Optimizer.State;
        if (optimizer.Count != state.OptimizerState.Length) throw new InvalidOperationException("the checkpoint's optimizer state does not fit the optimizer");
        for (var i = 0; i < optimizer.Count; i++) state.OptimizerState[i].CopyTo(optimizer[i], 0);
        session.Optimizer.StepCount = state.OptimizerSteps;
    }

    /// <summary>A fresh state: the session's starting weights, as the best so far.</summary>
    public static TrainingState Start(TrainingSession session, string inputsHash, int patience) => new()
    {
        InputsHash = inputsHash,
        Stopping = new EarlyStopping(patience),
        Weights = session.Weights.ToArray(),
        BestWeights = session.Weights.ToArray(),
        OptimizerState = [.. session.Optimizer.State.Select(a => a.ToArray())],
    };

    private static long EpochSeed(int seed, int epoch) => (long)seed * 1_000_003 + epoch;

    /// <summary>Target rows: one-hot, or with label smoothing 1 - s + s/K on the label and s/K elsewhere (TrainHead's rule).</summary>
    internal static void Targets(ActivationSource split, ReadOnlySpan<int> rows, float[] targets, int classes, float smoothing)
    {
        Array.Fill(targets, smoothing / classes);
        for (var k = 0; k < rows.Length; k++) targets[k * classes + split.Examples[rows[k]].Label] = 1 - smoothing + smoothing / classes;
    }

    /// <summary>Rows whose top probability is their target's top class: the label (label smoothing keeps it the top).</summary>
    private static int Correct(float[] probabilities, float[] targets, int rows, int classes)
    {
        var correct = 0;
        for (var k = 0; k < rows; k++)
        {
            var p = probabilities.AsSpan(k * classes, classes);
            var t = targets.AsSpan(k * classes, classes);
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(p) == System.Numerics.Tensors.TensorPrimitives.IndexOfMax(t)) correct++;
        }
        return correct;
    }
}

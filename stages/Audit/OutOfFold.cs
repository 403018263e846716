using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Audit;

/// <summary>
/// Out-of-fold class probabilities: every labelled row is scored by a head that never saw it. The rows
/// are dealt into <c>folds</c> folds, class by class in a seeded order (stratified, as cleanlab's
/// cross-validation is), and each fold is scored by a head trained with TrainHead's own trainer and the
/// train_head settings on the other folds. The held-out fold must not steer its head, so each head stops
/// early as TrainHead does, but on the next fold round: fold f is scored by a head trained on the folds
/// other than f and f + 1 and stopped on f + 1. On the flowers this stopping is worth more than the data it
/// holds back: the planned steps without it overfit, and the out-of-fold accuracy drops by several points.
/// Same vectors, settings and seed give the same probabilities, whatever the thread count.
/// </summary>
internal static class OutOfFold
{
    public const int DefaultFolds = 5;

    /// <summary>The fold of each row: each class's rows in a seeded shuffled order, dealt round the folds
    /// (a class of r rows puts r/folds or r/folds + 1 rows in each fold).</summary>
    public static int[] AssignFolds(int[] labels, int classes, int folds, long seed)
    {
        var fold = new int[labels.Length];
        var random = new SeededRandom(seed);
        var next = 0;
        for (var c = 0; c < classes; c++)
        {
            var rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).ToArray();
            random.Shuffle(rows);
            // Each class starts where the last one stopped, so small classes do not all crowd fold 0.
            foreach (var row in rows) fold[row] = next++ % folds;
        }
        return fold;
    }

    /// <summary>Row-major [rows x classes] probabilities, each row from the head that left its fold out.</summary>
    /// <param name="maxParallel">folds trained at once (each trainer single-threaded): the result does not depend on it.</param>
    public static float[] Probabilities(LabelledVectors all, TrainHeadConfig settings, int folds, int maxParallel, CancellationToken ct = default)
    {
        var n = all.Count;
        var classes = all.ClassCount;
        if (n == 0) return [];
        folds = Math.Clamp(folds, 3, Math.Max(3, n));
        var fold = AssignFolds(all.Labels, classes, folds, settings.Seed);
        var probabilities = new float[n * classes];
        ForEachFold(all, fold, folds, maxParallel, (_, heldOut, train, validation) =>
        {
            if (train.Count == 0)
            {
                foreach (var i in heldOut) probabilities.AsSpan(i * classes, classes).Fill(1f / classes); // too few rows: no evidence
                return;
            }
            var head = HeadTrainer.Train(train, validation, settings, new HeadTrainingOptions { MaxDegreeOfParallelism = 1 }, ct).Head;
            var x = new float[all.Dimension];
            foreach (var i in heldOut)
            {
                all.Vectors.CopyRow(i, x);
                head.Probabilities(x, probabilities.AsSpan(i * classes, classes));
            }
        }, ct);
        return probabilities;
    }

    /// <summary>
    /// Each fold f, in parallel: the rows it holds out, the rows of every fold but f and f + 1 to train on, and fold f + 1's
    /// rows to stop on, both as sets of their own. A fold that holds no row is skipped.
    /// </summary>
    /// <param name="fold">each row's fold, from <see cref="AssignFolds"/>.</param>
    /// <param name="body">called with the fold, its held-out rows, the training set and the stopping set.</param>
    internal static void ForEachFold(LabelledVectors all, int[] fold, int folds, int maxParallel,
        Action<int, int[], LabelledVectors, LabelledVectors> body, CancellationToken ct = default)
    {
        var n = all.Count;
        Parallel.For(0, folds, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxParallel), CancellationToken = ct }, f =>
        {
            var heldOut = Enumerable.Range(0, n).Where(i => fold[i] == f).ToArray();
            if (heldOut.Length == 0) return;
            var stopOn = (f + 1) % folds;
            var train = Subset(all, [.. Enumerable.Range(0, n).Where(i => fold[i] != f && fold[i] != stopOn)]);
            var stop = Subset(all, [.. Enumerable.Range(0, n).Where(i => fold[i] == stopOn)]);
            body(f, heldOut, train, stop);
        });
    }

    /// <summary>The given rows as a set of their own, in the precision they are held in.</summary>
    internal static LabelledVectors Subset(LabelledVectors all, int[] rows)
    {
        var m = new VectorMatrix(rows.Length, all.Dimension, all.Vectors.IsHalf);
        var row = new float[all.Dimension];
        for (var k = 0; k < rows.Length; k++)
        {
            all.Vectors.CopyRow(rows[k], row);
            m.Set(k, row);
        }
        return new LabelledVectors(m, [.. rows.Select(i => all.Labels[i])], all.LabelNames,
            [.. rows.Select(i => all.ContentIds[i])], [.. rows.Select(i => all.RelativePaths[i])]);
    }
}

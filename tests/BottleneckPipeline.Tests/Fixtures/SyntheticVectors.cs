using BottleneckPipeline.Cache;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>Gaussian clusters around random class centres: separable data whose answer is known.</summary>
public static class SyntheticVectors
{
    public static float[][] Centres(int classes, int dim, double spread, long seed)
    {
        var r = new SeededRandom(seed);
        return Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, dim).Select(_ => (float)(spread * r.NextGaussian())).ToArray()).ToArray();
    }

    /// <summary>perClass[c] rows of class c: centre c plus N(0, noise^2) per coordinate.</summary>
    public static LabelledVectors Sample(float[][] centres, int[] perClass, double noise, long seed, string prefix = "row")
    {
        var r = new SeededRandom(seed);
        var rows = new List<float[]>();
        var labels = new List<int>();
        for (var c = 0; c < centres.Length; c++)
            for (var k = 0; k < perClass[c]; k++)
            {
                rows.Add(centres[c].Select(m => (float)(m + noise * r.NextGaussian())).ToArray());
                labels.Add(c);
            }
        var names = Enumerable.Range(0, centres.Length).Select(c => $"class{c}").ToArray();
        var ids = rows.Select((_, i) => $"{prefix}-{i:D5}").ToArray();
        var paths = labels.Select((l, i) => $"{names[l]}/{prefix}{i}.jpg").ToArray();
        return new LabelledVectors(rows, labels.ToArray(), names, ids, paths);
    }

    public static LabelledVectors Sample(float[][] centres, int perClass, double noise, long seed, string prefix = "row") =>
        Sample(centres, Enumerable.Repeat(perClass, centres.Length).ToArray(), noise, seed, prefix);

    /// <summary>The same rows with some labels replaced by the next class.</summary>
    public static LabelledVectors Relabel(LabelledVectors set, Func<int, bool> mislabel) =>
        new(set.Rows, set.Labels.Select((l, i) => mislabel(i) ? (l + 1) % set.ClassCount : l).ToArray(), set.LabelNames, set.ContentIds, set.RelativePaths);

    public static double Accuracy(SoftmaxHead head, LabelledVectors set)
    {
        var correct = 0;
        for (var i = 0; i < set.Count; i++)
        {
            var p = head.Probabilities(set.Rows[i]);
            if (Array.IndexOf(p, p.Max()) == set.Labels[i]) correct++;
        }
        return (double)correct / set.Count;
    }
}

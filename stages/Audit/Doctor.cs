using System.Globalization;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;

namespace BottleneckPipeline.Audit;

/// <summary>Every labelled image the audit looks at: the train, validation and test rows in one set, with each row's split.</summary>
internal sealed record AuditSet(LabelledVectors All, string[] Splits);

/// <summary>Each row's evidence against its given label (the bench ranks every row by it; the report lists the suspects).</summary>
/// <param name="Score">1 - the blended probability of the given label: 0..1, higher is more suspicious.</param>
/// <param name="Suggested">the most probable other class, by the same blend.</param>
internal sealed record LabelEvidence(double[] Score, int[] Suggested);

/// <summary>
/// The audit's findings from the vectors, the out-of-fold probabilities and the neighbour graph. The thresholds, and
/// why each is where it is (figures in bench/results.md, area doctor):
/// <list type="bullet">
/// <item>A label is suspect when the blend of two independent views gives it at most 20%: the out-of-fold head's
/// probability and a vote of the image's 10 nearest neighbours (weights exp(cosine / 0.05)), half each. The two views
/// err on different photos, so on the flowers with labels moved at random the blend ranks more of the moved photos
/// near the top than either view alone, and the 20% cut lists a little over twice as many suspects as were moved.</item>
/// <item>A near-duplicate is a pair among each image's 10 nearest neighbours at cosine 0.80 or more that
/// <see cref="LayoutCheck"/> finds to be the same picture.</item>
/// <item>An outlier's mean cosine distance to its 10 nearest neighbours is past Tukey's far fence of all of them
/// (Q3 + 1.5 IQR).</item>
/// <item>The classes are out of balance when the largest has more than <see cref="BalanceRatio"/> times the images
/// of the smallest: past that a head trained image by image leans on the large class (train_head.class_balanced
/// samples the classes evenly).</item>
/// </list>
/// </summary>
internal static class Doctor
{
    public const int Neighbours = 10;
    public const double VoteTemperature = 0.05;
    public const double HeadWeight = 0.5;
    public const double SuspectScore = 0.8;
    public const double CandidateCosine = 0.80;
    public const double OutlierFence = 1.5;
    public const double BalanceRatio = 3.0;

    /// <summary>The blend of the out-of-fold head's probabilities and the neighbours' vote, and what it says of each given label.</summary>
    /// <param name="headWeight">the head's share of the blend (the bench sets 1 and 0 to score each view alone).</param>
    /// <param name="scored">the labels whose evidence is scored; null: the set's own, which the heads and the neighbours
    /// also learned (the bench scores the given labels against heads and neighbours that learned the true ones).</param>
    public static LabelEvidence Labels(LabelledVectors all, float[] outOfFold, NeighbourGraph graph, double headWeight = HeadWeight,
        int[]? scored = null)
    {
        var n = all.Count;
        var classes = all.ClassCount;
        var score = new double[n];
        var suggested = new int[n];
        var vote = new double[classes];
        for (var i = 0; i < n; i++)
        {
            Array.Clear(vote);
            var ids = graph.Of(i);
            var sims = graph.SimilaritiesOf(i);
            double total = 0;
            for (var m = 0; m < ids.Length && ids[m] >= 0; m++)
            {
                var w = Math.Exp((sims[m] - sims[0]) / VoteTemperature);
                vote[all.Labels[ids[m]]] += w;
                total += w;
            }
            var given = (scored ?? all.Labels)[i];
            double Blend(int c) => headWeight * outOfFold[i * classes + c] + (1 - headWeight) * (total > 0 ? vote[c] / total : 1.0 / classes);
            score[i] = Math.Clamp(1 - Blend(given), 0, 1);
            var best = -1;
            for (var c = 0; c < classes; c++)
                if (c != given && (best < 0 || Blend(c) > Blend(best))) best = c;
            suggested[i] = best < 0 ? given : best;
        }
        return new LabelEvidence(score, suggested);
    }

    /// <summary>The rows whose score reaches <see cref="SuspectScore"/>, most suspicious first (ties by path).</summary>
    public static List<LabelIssue> Suspects(AuditSet set, LabelEvidence evidence)
    {
        var all = set.All;
        return [.. Enumerable.Range(0, all.Count)
            .Where(i => evidence.Score[i] >= SuspectScore && all.ClassCount > 1)
            .OrderByDescending(i => evidence.Score[i]).ThenBy(i => all.RelativePaths[i], StringComparer.Ordinal)
            .Select(i => new LabelIssue(all.RelativePaths[i], all.LabelNames[all.Labels[i]], all.LabelNames[evidence.Suggested[i]],
                evidence.Score[i], set.Splits[i]))];
    }

    /// <summary>Pairs (lower row first, each once) among each row's neighbours at <see cref="CandidateCosine"/> or more,
    /// two rows of the same content (one image under two labels) aside.</summary>
    public static List<(int A, int B, float Cosine)> Candidates(LabelledVectors all, NeighbourGraph graph)
    {
        var pairs = new Dictionary<(int, int), float>();
        for (var i = 0; i < graph.Count; i++)
        {
            var ids = graph.Of(i);
            var sims = graph.SimilaritiesOf(i);
            for (var m = 0; m < ids.Length && ids[m] >= 0 && sims[m] >= CandidateCosine; m++)
            {
                var j = ids[m];
                if (all.ContentIds[i] == all.ContentIds[j]) continue;
                pairs[(Math.Min(i, j), Math.Max(i, j))] = sims[m];
            }
        }
        return [.. pairs.OrderBy(p => p.Key).Select(p => (p.Key.Item1, p.Key.Item2, p.Value))];
    }

    /// <summary>The candidates the layout check confirms, with their kind: conflict (two labels) before leak (two splits)
    /// before same-split, each most similar first.</summary>
    /// <param name="sameness">the layout similarity of two rows' images, or null when either has no thumbnail.</param>
    public static List<NearDuplicate> NearDuplicates(AuditSet set, IEnumerable<(int A, int B, float Cosine)> candidates, Func<int, int, double?> sameness)
    {
        var all = set.All;
        var found = new List<NearDuplicate>();
        foreach (var (a, b, cosine) in candidates)
        {
            if (sameness(a, b) is not { } s || s < LayoutCheck.SamePicture) continue;
            var kind = all.Labels[a] != all.Labels[b] ? NearDuplicateKinds.Conflict
                : set.Splits[a] != set.Splits[b] ? NearDuplicateKinds.Leak
                : NearDuplicateKinds.SameSplit;
            found.Add(new NearDuplicate(all.RelativePaths[a], all.RelativePaths[b], cosine, kind,
                all.LabelNames[all.Labels[a]], set.Splits[a], all.LabelNames[all.Labels[b]], set.Splits[b]));
        }
        static int Rank(string kind) => kind switch { NearDuplicateKinds.Conflict => 0, NearDuplicateKinds.Leak => 1, _ => 2 };
        return [.. found.OrderBy(d => Rank(d.Kind)).ThenByDescending(d => d.Similarity).ThenBy(d => d.A, StringComparer.Ordinal)];
    }

    /// <summary>Each row's mean cosine distance to its neighbours.</summary>
    public static double[] OutlierScores(NeighbourGraph graph)
    {
        var scores = new double[graph.Count];
        for (var i = 0; i < graph.Count; i++)
        {
            var ids = graph.Of(i);
            var sims = graph.SimilaritiesOf(i);
            double sum = 0;
            var m = 0;
            for (; m < ids.Length && ids[m] >= 0; m++) sum += sims[m];
            scores[i] = m == 0 ? 0 : 1 - sum / m;
        }
        return scores;
    }

    /// <summary>The rows past Tukey's fence (Q3 + <see cref="OutlierFence"/> IQR), farthest first.</summary>
    public static List<Outlier> Outliers(AuditSet set, double[] scores)
    {
        if (scores.Length < 4) return [];
        var sorted = scores.Order().ToArray();
        double Quantile(double q)
        {
            var pos = q * (sorted.Length - 1);
            var lo = (int)Math.Floor(pos);
            var hi = Math.Min(lo + 1, sorted.Length - 1);
            return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
        }
        var (q1, q3) = (Quantile(0.25), Quantile(0.75));
        var fence = q3 + OutlierFence * (q3 - q1);
        return [.. Enumerable.Range(0, scores.Length).Where(i => scores[i] > fence)
            .OrderByDescending(i => scores[i]).ThenBy(i => set.All.RelativePaths[i], StringComparer.Ordinal)
            .Select(i => new Outlier(set.All.RelativePaths[i], scores[i]))];
    }

    /// <summary>Images per class and split (every class and split, zeros included) and the warning when out of balance.</summary>
    public static (Dictionary<string, IReadOnlyDictionary<string, int>> Counts, string? Warning) ClassBalance(AuditSet set, IReadOnlyList<string> splitNames)
    {
        var all = set.All;
        var counts = all.LabelNames.ToDictionary(c => c, _ => splitNames.ToDictionary(s => s, _ => 0, StringComparer.Ordinal), StringComparer.Ordinal);
        for (var i = 0; i < all.Count; i++) counts[all.LabelNames[all.Labels[i]]][set.Splits[i]]++;
        var totals = all.LabelNames.Select(c => (Class: c, Count: counts[c].Values.Sum())).ToList();
        string? warning = null;
        if (totals.Count > 1)
        {
            var largest = totals.MaxBy(t => t.Count);
            var smallest = totals.MinBy(t => t.Count);
            if (smallest.Count == 0 || largest.Count > BalanceRatio * smallest.Count)
                warning = string.Create(CultureInfo.InvariantCulture,
                    $"class '{largest.Class}' has {largest.Count} images and '{smallest.Class}' {smallest.Count}: more than {BalanceRatio:0.#} to 1. ") +
                    "A head trained image by image leans on the large classes: add images to the small ones, or set train_head.class_balanced: true.";
        }
        return (counts.ToDictionary(c => c.Key, c => (IReadOnlyDictionary<string, int>)c.Value, StringComparer.Ordinal), warning);
    }
}

namespace BottleneckPipeline.Config;

/// <summary>
/// The known key a mistyped one most likely meant, by edit distance (insertions, deletions,
/// substitutions and swaps of two neighbouring letters each cost 1), for "did you mean ...?".
/// </summary>
internal static class NearestKey
{
    /// <summary>The closest known key, or null when none is close enough to be a typo:
    /// within a third of the key's length, at least 1 and at most 3 edits. Ties go to the first known key.</summary>
    public static string? Find(string typed, IEnumerable<string> known)
    {
        var allowed = Math.Clamp(typed.Length / 3, 1, 3);
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var key in known)
        {
            var d = Distance(typed, key);
            if (d <= allowed && d < bestDistance) (best, bestDistance) = (key, d);
        }
        return best;
    }

    /// <summary>Optimal string alignment distance (Damerau-Levenshtein without repeated edits of one substring).</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}

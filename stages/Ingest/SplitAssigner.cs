using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace BottleneckPipeline.Ingest;

/// <summary>The three splits, as stored in examples.split.</summary>
internal static class Splits
{
    public const string Train = "train";
    public const string Validation = "validation";
    public const string Test = "test";
    public static readonly string[] All = [Train, Validation, Test];
}

/// <summary>
/// Draws each example's split from a hash of its key alone (the content id, or its group key), so an
/// example's split never depends on which other files exist, where the folder lives, or what the
/// file is called: adding, removing or renaming files moves nothing else.
/// </summary>
internal sealed class SplitAssigner(double validationPercent, double testPercent, string salt, string? groupPattern)
{
    private readonly Regex? _group = string.IsNullOrEmpty(groupPattern) ? null : new Regex(groupPattern, RegexOptions.CultureInvariant);

    /// <summary>The group a file belongs to: the pattern's first capture group (or whole match) over
    /// its relative path; null when there is no pattern or it does not match.</summary>
    public string? GroupKey(string relPath)
    {
        if (_group is null) return null;
        var m = _group.Match(relPath);
        if (!m.Success) return null;
        return m.Groups.Count > 1 && m.Groups[1].Success ? m.Groups[1].Value : m.Value;
    }

    public string Assign(string contentId, string? groupKey) => SplitFor(Position(groupKey ?? contentId));

    public string SplitFor(double position) =>
        position < testPercent ? Splits.Test :
        position < testPercent + validationPercent ? Splits.Validation :
        Splits.Train;

    /// <summary>Where a key falls in [0, 100): the first 8 bytes of SHA-256(salt + key) as a fraction of 2^64.</summary>
    public double Position(string key)
    {
        var text = salt + key;
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var bytes = max <= 512 ? stackalloc byte[max] : new byte[max];
        var n = Encoding.UTF8.GetBytes(text, bytes);
        SHA256.HashData(bytes[..n], hash);
        return BinaryPrimitives.ReadUInt64BigEndian(hash) / 18446744073709551616.0 * 100.0;
    }
}

using System.Buffers.Binary;
using System.Globalization;

namespace BottleneckPipeline.Cache;

/// <summary>
/// The content ids whose position (first 64 bits: the id's first 16 hex digits as a number)
/// lies in First..Last, inclusive. SHA-256 spreads ids evenly over positions, so equal ranges hold
/// equal shares of any dataset. A writer that embeds one range only (an Extract shard) tags its
/// segment's name with it, and a reader interested in one range skips the segments of others.
/// </summary>
public readonly record struct IdRange(ulong First, ulong Last)
{
    public static IdRange All => new(0, ulong.MaxValue);

    public static ulong Position(string contentId) =>
        ulong.Parse(contentId.AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    public static ulong Position(ContentKey key)
    {
        Span<byte> bytes = stackalloc byte[ContentKey.Size];
        key.WriteTo(bytes);
        return BinaryPrimitives.ReadUInt64BigEndian(bytes);
    }

    public bool Contains(ulong position) => position >= First && position <= Last;

    public bool Intersects(IdRange other) => First <= other.Last && other.First <= Last;

    /// <summary>The bounds as id prefixes for an index query: id &gt;= Low and (High is null or id &lt; High).</summary>
    public (string Low, string? High) HexBounds =>
        (First.ToString("x16", CultureInfo.InvariantCulture), Last == ulong.MaxValue ? null : (Last + 1).ToString("x16", CultureInfo.InvariantCulture));

    /// <summary>The tag in a segment's name: r&lt;first&gt;-&lt;last&gt;, 16 hex digits each.</summary>
    public string Tag => string.Create(CultureInfo.InvariantCulture, $"r{First:x16}-{Last:x16}");

    /// <summary>The range a segment's file name declares; every id for names without a tag (a whole Extract's).</summary>
    public static IdRange OfSegment(string fileName)
    {
        // seg-<pid>-<random>.r<first>-<last>.bpv
        var parts = Path.GetFileNameWithoutExtension(fileName).Split('.');
        if (parts.Length == 2 && parts[1].Length == 34 && parts[1][0] == 'r' && parts[1][17] == '-'
            && ulong.TryParse(parts[1].AsSpan(1, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var first)
            && ulong.TryParse(parts[1].AsSpan(18, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var last))
            return new IdRange(first, last);
        return All;
    }
}

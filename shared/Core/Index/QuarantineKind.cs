namespace BottleneckPipeline.Index;

/// <summary>
/// Why Extract quarantined an image: the quarantine table's kind column. Decode failures belong to
/// the content and stay; changed and missing describe a file's state at Extract time, which the
/// next Ingest has looked at again, so it releases them.
/// </summary>
public enum QuarantineKind
{
    /// <summary>The bytes are not a usable image (corrupt, truncated, too large).</summary>
    Decode,
    /// <summary>The file's bytes no longer hash to the content id Ingest recorded.</summary>
    Changed,
    /// <summary>The file was gone when Extract went to read it.</summary>
    Missing,
}

public static class QuarantineKinds
{
    /// <summary>The kind as stored in the quarantine table.</summary>
    public static string ToColumn(this QuarantineKind kind) => kind switch
    {
        QuarantineKind.Decode => "decode",
        QuarantineKind.Changed => "changed",
        QuarantineKind.Missing => "missing",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The kind from its column text (as <see cref="ToColumn"/> writes it); null for anything else.</summary>
    public static QuarantineKind? FromColumn(string text) => text switch
    {
        "decode" => QuarantineKind.Decode,
        "changed" => QuarantineKind.Changed,
        "missing" => QuarantineKind.Missing,
        _ => null,
    };
}

using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Artifacts;

/// <summary>Why an artifact's checksum does not vouch for it.</summary>
public enum ArtifactFault
{
    /// <summary>It carries a checksum and its content does not match it: it changed after it was written.</summary>
    Damaged,
    /// <summary>It carries no checksum: written by a version from before checksums, or cut short (the checksum is at its end).</summary>
    Unverifiable,
    /// <summary>Its checksum vouches for it but its content is not in the format this version reads (another version wrote it).</summary>
    OtherFormat,
    /// <summary>A file its manifest names is not there.</summary>
    Missing,
}

/// <summary>
/// An artifact that a later stage would trust but whose checksum does not vouch for it. The stage that
/// can rebuild it catches this and rebuilds, saying so in one line (<see cref="RepairLine"/>); any
/// other reader lets it through as exit 3 with the advice, which names the run that rebuilds it.
/// </summary>
public sealed class DamagedArtifactException(string path, ArtifactFault fault, string advice, Exception? inner = null)
    : PipelineException(ExitCodes.BadInput, $"{path} {Problem(fault)}: {advice}", inner)
{
    public string Path { get; } = path;
    public ArtifactFault Fault { get; } = fault;

    public static string Problem(ArtifactFault fault) => fault switch
    {
        ArtifactFault.Damaged => "failed its checksum",
        ArtifactFault.Unverifiable => "has no checksum (written by an older version, or cut short)",
        ArtifactFault.OtherFormat => "is not in the format this version reads",
        _ => "is missing",
    };

    /// <summary>The stage's one line about the repair, e.g. "train-head: head.msgpack failed its checksum: retraining".</summary>
    /// <param name="workspace">the workspace folder: a path inside it is shown relative to it.</param>
    public string RepairLine(string stage, string workspace, string action) => $"{stage}: {Display(Path, workspace)} {Problem(Fault)}: {action}";

    /// <summary>A workspace file as a person reads it in a line: relative to the workspace when inside it.</summary>
    public static string Display(string path, string workspace)
    {
        if (workspace.Length == 0) return path;
        var relative = System.IO.Path.GetRelativePath(System.IO.Path.GetFullPath(workspace), System.IO.Path.GetFullPath(path));
        return relative.StartsWith("..", StringComparison.Ordinal) || System.IO.Path.IsPathRooted(relative) ? path : relative;
    }
}

/// <summary>SHA-256 as the artifacts record it: 64 lowercase hex digits.</summary>
public static class Sha256
{
    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string OfFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>
/// The checksum of a binary artifact (head.msgpack, checkpoint.bin), kept in the file itself: after
/// the payload, the 32-byte SHA-256 of the payload and the 8 ASCII bytes "BPSHA256". At the end, so
/// a file cut short has lost it (unverifiable) and a reader need not know the payload's length.
/// </summary>
public static class ChecksumTrailer
{
    public const int Size = HashSize + 8;
    private const int HashSize = 32;
    private static ReadOnlySpan<byte> Magic => "BPSHA256"u8;

    /// <summary>Writes atomically (<see cref="AtomicFile"/>) what <paramref name="write"/> puts in the stream, then the trailer.</summary>
    public static void Write(string path, Action<Stream> write) => AtomicFile.Write(path, stream =>
    {
        using var hashing = new HashingStream(stream);
        write(hashing);
        stream.Write(hashing.Hash());
        stream.Write(Magic);
    });

    /// <summary>Writes the payload and its trailer atomically; returns the whole file's SHA-256 (for a manifest that names it).</summary>
    public static string WriteAllBytes(string path, ReadOnlySpan<byte> payload)
    {
        var file = new byte[payload.Length + Size];
        payload.CopyTo(file);
        Seal(payload, file.AsSpan(payload.Length));
        AtomicFile.Write(path, s => s.Write(file));
        return Sha256.Of(file);
    }

    /// <summary>The file's payload, checked against its trailer.</summary>
    /// <param name="advice">what to do about a damaged file: the run that rebuilds it.</param>
    public static ReadOnlyMemory<byte> ReadAllBytes(string path, string advice)
    {
        var file = File.ReadAllBytes(path);
        if (Check(file) is { } fault) throw new DamagedArtifactException(path, fault, advice);
        return file.AsMemory(0, file.Length - Size);
    }

    /// <summary>Checks a file too large to hold twice (a checkpoint) by streaming it; returns the payload's length.</summary>
    public static long Verify(string path, string advice)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        var payload = stream.Length - Size;
        Span<byte> trailer = stackalloc byte[Size];
        if (payload < 0) throw new DamagedArtifactException(path, ArtifactFault.Unverifiable, advice);
        stream.Position = payload;
        stream.ReadExactly(trailer);
        if (!trailer[HashSize..].SequenceEqual(Magic)) throw new DamagedArtifactException(path, ArtifactFault.Unverifiable, advice);
        stream.Position = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        for (var left = payload; left > 0;)
        {
            var n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0) throw new EndOfStreamException(path);
            hash.AppendData(buffer, 0, n);
            left -= n;
        }
        if (!hash.GetHashAndReset().AsSpan().SequenceEqual(trailer[..HashSize])) throw new DamagedArtifactException(path, ArtifactFault.Damaged, advice);
        return payload;
    }

    /// <summary>What is wrong with a whole file's bytes; null when its trailer vouches for it.</summary>
    public static ArtifactFault? Check(ReadOnlySpan<byte> file)
    {
        if (file.Length < Size || !file[^Magic.Length..].SequenceEqual(Magic)) return ArtifactFault.Unverifiable;
        var payload = file[..^Size];
        Span<byte> hash = stackalloc byte[HashSize];
        SHA256.HashData(payload, hash);
        return hash.SequenceEqual(file.Slice(payload.Length, HashSize)) ? null : ArtifactFault.Damaged;
    }

    private static void Seal(ReadOnlySpan<byte> payload, Span<byte> trailer)
    {
        SHA256.HashData(payload, trailer[..HashSize]);
        Magic.CopyTo(trailer[HashSize..]);
    }
}

/// <summary>
/// The checksum of a JSON artifact (the reports, the fine-tune manifest): its last member,
/// <c>"checksum": "sha256:…"</c>, the SHA-256 of the file's text without that member (the text up to
/// the comma before it, then a newline and the closing brace: the object as serialized without it).
/// Checked on the text as it is, so no JSON library's formatting of numbers or escapes comes into it.
/// </summary>
public static class JsonChecksum
{
    private const string Member = ",\n  \"checksum\": \"sha256:";
    private const string End = "\"\n}\n";

    /// <summary>An indented JSON object's text with its checksum member added, ending in a newline.</summary>
    public static string Add(string json)
    {
        var close = json.LastIndexOf('}');
        var open = close < 0 ? "" : json[..close].TrimEnd();
        if (open.Length == 0 || open.EndsWith('{')) throw new ArgumentException("not a non-empty JSON object", nameof(json));
        return open + Member + Hash(open) + End;
    }

    /// <summary>The text without its checksum member when the checksum vouches for it.</summary>
    /// <param name="advice">what to do about a damaged file: the run that rebuilds it.</param>
    public static string Verify(string path, string text, string advice)
    {
        var at = text.LastIndexOf(Member, StringComparison.Ordinal);
        if (at < 0) throw new DamagedArtifactException(path, ArtifactFault.Unverifiable, advice);
        var recorded = text.AsSpan(at + Member.Length);
        var body = text[..at];
        if (recorded.Length != 64 + End.Length || !recorded[64..].SequenceEqual(End) || !recorded[..64].SequenceEqual(Hash(body)))
            throw new DamagedArtifactException(path, ArtifactFault.Damaged, advice);
        return body + "\n}\n";
    }

    /// <summary>Reads and checks a JSON artifact; the text without its checksum member.</summary>
    public static string ReadVerified(string path, string advice) => Verify(path, File.ReadAllText(path), advice);

    private static string Hash(string open) => Sha256.Of(Encoding.UTF8.GetBytes(open + "\n}"));
}

/// <summary>Passes writes through to a stream and hashes them (SHA-256) on the way.</summary>
public sealed class HashingStream(Stream inner) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>The SHA-256 of everything written so far.</summary>
    public byte[] Hash() => _hash.GetCurrentHash();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        _hash.AppendData(buffer);
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush() => inner.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _hash.Dispose();
        base.Dispose(disposing);
    }
}

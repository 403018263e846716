using System.Buffers;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Cache;

/// <summary>
/// Appends vectors to this process's own segment in the fingerprint's folder (format in
/// BottleneckCache.cs). Records are buffered and made durable together by <see cref="Commit"/>,
/// once per batch. The segment is created on the first commit, so a run that adds nothing leaves
/// no file.
/// </summary>
public sealed class CacheWriter : IDisposable
{
    private readonly string _folder;
    private readonly VectorPrecision _precision;
    private readonly ArrayBufferWriter<byte> _pending = new(1 << 16);
    private readonly ArrayBufferWriter<byte> _scratch = new(1 << 14);
    private FileStream? _stream;
    /// <summary>The segment's length after the last durable commit: a retried write starts again here.</summary>
    private long _committedLength;

    public string? SegmentPath { get; private set; }

    private readonly IdRange? _range;

    /// <param name="range">The only ids this writer will append (an Extract shard's), named in the
    /// segment's file name so that readers of other ranges can skip the segment.</param>
    public CacheWriter(string cacheDir, string fingerprint, VectorPrecision precision, IdRange? range = null)
    {
        _folder = BottleneckCache.FolderFor(cacheDir, fingerprint);
        _precision = precision;
        _range = range == IdRange.All ? null : range;
    }

    public void Append(string contentId, ReadOnlySpan<float> vector) => Append(ContentKey.FromHex(contentId), vector);

    public void Append(ContentKey key, ReadOnlySpan<float> vector)
    {
        if (_range is { } r && !r.Contains(IdRange.Position(key)))
            throw new ArgumentException($"{key} is outside this writer's range {r.Tag}: readers of that range would miss it");
        SegmentFormat.Encode(key, vector, _precision, _scratch, _pending);
    }

    /// <summary>
    /// Writes the buffered records and fsyncs: after this returns they survive kill -9 and power loss.
    /// A transient error of a shared filesystem is retried: the segment is cut back to its last
    /// commit first, so a half-written try never leaves a record twice or a torn one in between.
    /// </summary>
    public void Commit()
    {
        if (_pending.WrittenCount == 0) return;
        var created = _stream is null;
        var stream = _stream ??= TransientIo.Run(CreateSegment);
        TransientIo.Run(() =>
        {
            if (stream.Length != _committedLength) stream.SetLength(_committedLength);
            stream.Position = _committedLength;
            stream.Write(_pending.WrittenSpan);
            stream.Flush(flushToDisk: true);
        });
        _committedLength = stream.Position;
        // The segment's name must survive power loss as well as its bytes: once, after the first commit.
        if (created) TransientIo.Run(() => DirectorySync.Flush(_folder));
        _pending.Clear();
    }

    private FileStream CreateSegment()
    {
        if (!Directory.Exists(_folder))
        {
            Directory.CreateDirectory(_folder); // a retried creation finds it there and goes on
            DirectorySync.Flush(Path.GetDirectoryName(_folder)!); // the new fingerprint folder's own name
        }
        var name = $"seg-{Environment.ProcessId}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6))}" +
                   (_range is { } r ? "." + r.Tag : "") + ".bpv";
        SegmentPath = Path.Combine(_folder, name);
        // FileShare.Read: readers may look; the shared lock this takes stops a repairer (which needs
        // an exclusive open) from truncating a segment that is still being written. Unbuffered: each
        // commit is already one write of a whole batch, and a retry must know what reached the file.
        var fs = new FileStream(SegmentPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 0);
        try
        {
            fs.Write(SegmentFormat.Magic);
        }
        catch
        {
            fs.Dispose(); // a retry starts another segment; this header-less one is removed by the next repair
            throw;
        }
        _committedLength = SegmentFormat.HeaderSize;
        return fs;
    }

    public void Dispose()
    {
        try { Commit(); }
        finally { _stream?.Dispose(); }
    }
}

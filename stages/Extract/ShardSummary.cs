using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Extract;

/// <summary>An image a shard could not embed, and why (as Extract's quarantine records it).</summary>
internal sealed record ShardQuarantine(string ContentId, string RelPath, QuarantineKind Kind, string Reason);

/// <summary>
/// What one shard run did: reports/shards/extract-I-of-N.json. Shards write no shared report and
/// never write the index (many of them run at once, on several machines); this small file is
/// their message to the plain Extract run that finishes the job, which records their quarantine in
/// the index, sums them up in extract.json and then removes the files.
/// </summary>
internal sealed record ShardSummary(
    ExtractShard Shard, string InputsHash, string Fingerprint, int Dimension, string Backbone,
    int Assigned, int Extracted, int Reused, int EmbeddedByOthers, int WaitedPieces,
    IReadOnlyList<ShardQuarantine> Quarantined, long Decoded, double Seconds, double ImagesPerSecond, string Host)
{
    public static string Folder(PipelineConfig config) => Path.Combine(config.ReportsDir, "shards");

    public static string PathFor(PipelineConfig config, ExtractShard shard) =>
        Path.Combine(Folder(config), $"extract-{shard.Index}-of-{shard.Count}.json");

    /// <summary>The file, key for key.</summary>
    private sealed record Contents(
        string Shard, int Index, int Count, string InputsHash, string Fingerprint, int Dimension, string Backbone,
        int Assigned, int Extracted, int Reused, int EmbeddedByOthers, int WaitedPieces,
        IReadOnlyList<QuarantineContents> Quarantined, long Decoded, double Seconds, double ImagesPerSecond, string Host);

    private sealed record QuarantineContents(string ContentId, string RelPath, string Kind, string Reason);

    public void Write(PipelineConfig config)
    {
        var contents = new Contents(Shard.ToString(), Shard.Index, Shard.Count, InputsHash, Fingerprint, Dimension, Backbone,
            Assigned, Extracted, Reused, EmbeddedByOthers, WaitedPieces,
            [.. Quarantined.Select(q => new QuarantineContents(q.ContentId, q.RelPath, q.Kind.ToColumn(), q.Reason))],
            Decoded, Math.Round(Seconds, 3), Math.Round(ImagesPerSecond, 2), Host);
        var path = PathFor(config, Shard);
        TransientIo.Run(() => ReportJson.Write(path, contents));
    }

    /// <summary>
    /// Removes these summary files, then their folder once empty: the folder is the shards' own, and
    /// a workspace after a sharded run holds nothing more than after a plain one (so `make clean`
    /// leaves nothing of it). A file of the user's put there keeps the folder.
    /// </summary>
    public static void Remove(PipelineConfig config, IEnumerable<string> files)
    {
        foreach (var file in files)
            try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        var folder = Folder(config);
        try
        {
            if (Directory.Exists(folder) && !Directory.EnumerateFileSystemEntries(folder).Any()) Directory.Delete(folder);
        }
        catch (IOException) { } // a shard started writing into it meanwhile: it stays
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Every summary file in the workspace with what it says, or why it cannot be used (a damaged,
    /// half-copied or foreign file).</summary>
    public static List<(string Path, ShardSummary? Summary, DamagedArtifactException? Damage)> ReadAll(PipelineConfig config)
    {
        var folder = Folder(config);
        if (!TransientIo.Run(() => Directory.Exists(folder))) return [];
        return [.. TransientIo.Run(() => Directory.GetFiles(folder, "extract-*-of-*.json")).Order(StringComparer.Ordinal).Select(p =>
        {
            (string, ShardSummary?, DamagedArtifactException?) entry;
            try { entry = (p, Read(p), null); }
            catch (DamagedArtifactException e) { entry = (p, null, e); }
            catch (IOException) { entry = (p, null, null); } // listed, then removed
            return entry;
        })];
    }

    /// <summary>What the finishing run does about a damaged summary: its shard's news is lost, so its images are tried again.</summary>
    public const string Advice = "run Extract (without --shard): it embeds again what that shard reported";

    /// <summary>A summary file, checked against its checksum; a <see cref="DamagedArtifactException"/> when it cannot be used.</summary>
    public static ShardSummary Read(string path)
    {
        var c = TransientIo.Run(() => ReportJson.Read<Contents>(path, Advice));
        try
        {
            return new ShardSummary(new ExtractShard(c.Index, c.Count), c.InputsHash, c.Fingerprint, c.Dimension, c.Backbone,
                c.Assigned, c.Extracted, c.Reused, c.EmbeddedByOthers, c.WaitedPieces,
                [.. c.Quarantined.Select(q => new ShardQuarantine(q.ContentId, q.RelPath,
                    QuarantineKinds.FromColumn(q.Kind) ?? throw new FormatException("unknown quarantine kind"), q.Reason))],
                c.Decoded, c.Seconds, c.ImagesPerSecond, c.Host);
        }
        catch (FormatException e)
        {
            throw new DamagedArtifactException(path, ArtifactFault.OtherFormat, Advice, e);
        }
    }

    /// <summary>A summary file, or null when it cannot be used.</summary>
    public static ShardSummary? TryRead(string path)
    {
        try { return Read(path); }
        catch (Exception e) when (e is DamagedArtifactException or IOException) { return null; }
    }
}

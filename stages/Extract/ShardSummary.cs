using System.Text.Json;
using System.Text.Json.Nodes;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Extract;

/// <summary>An image a shard could not embed, and why (as Extract's quarantine records it).</summary>
public sealed record ShardQuarantine(string ContentId, string RelPath, QuarantineKind Kind, string Reason);

/// <summary>
/// What one shard run did: reports/shards/extract-I-of-N.json. Shards write no shared report and
/// never write the index (many of them run at once, on several machines); this small file is
/// their message to the plain Extract run that finishes the job, which records their quarantine in
/// the index, sums them up in extract.json and then removes the files.
/// </summary>
public sealed record ShardSummary(
    ExtractShard Shard, string InputsHash, string Fingerprint, int Dimension, string Backbone,
    int Assigned, int Extracted, int Reused, int EmbeddedByOthers, int WaitedPieces,
    IReadOnlyList<ShardQuarantine> Quarantined, long Decoded, double Seconds, double ImagesPerSecond, string Host)
{
    public static string Folder(PipelineConfig config) => Path.Combine(config.ReportsDir, "shards");

    public static string PathFor(PipelineConfig config, ExtractShard shard) =>
        Path.Combine(Folder(config), $"extract-{shard.Index}-of-{shard.Count}.json");

    public void Write(PipelineConfig config)
    {
        var o = new JsonObject
        {
            ["shard"] = Shard.ToString(),
            ["index"] = Shard.Index,
            ["count"] = Shard.Count,
            ["inputs_hash"] = InputsHash,
            ["fingerprint"] = Fingerprint,
            ["dimension"] = Dimension,
            ["backbone"] = Backbone,
            ["assigned"] = Assigned,
            ["extracted"] = Extracted,
            ["reused"] = Reused,
            ["embedded_by_others"] = EmbeddedByOthers,
            ["waited_pieces"] = WaitedPieces,
            ["quarantined"] = new JsonArray([.. Quarantined.Select(q => (JsonNode)new JsonObject
            {
                ["content_id"] = q.ContentId,
                ["rel_path"] = q.RelPath,
                ["kind"] = q.Kind.ToColumn(),
                ["reason"] = q.Reason,
            })]),
            ["decoded"] = Decoded,
            ["seconds"] = Math.Round(Seconds, 3),
            ["images_per_second"] = Math.Round(ImagesPerSecond, 2),
            ["host"] = Host,
        };
        var path = PathFor(config, Shard);
        TransientIo.Run(() => AtomicFile.WriteAllText(path, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n"));
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

    /// <summary>Every summary file in the workspace with what it says (null when unreadable: a half-copied or foreign file).</summary>
    public static List<(string Path, ShardSummary? Summary)> ReadAll(PipelineConfig config)
    {
        var folder = Folder(config);
        if (!TransientIo.Run(() => Directory.Exists(folder))) return [];
        return [.. TransientIo.Run(() => Directory.GetFiles(folder, "extract-*-of-*.json")).Order(StringComparer.Ordinal).Select(p => (p, TryRead(p)))];
    }

    public static ShardSummary? TryRead(string path)
    {
        try
        {
            var o = JsonNode.Parse(TransientIo.Run(() => File.ReadAllText(path)))!.AsObject();
            return new ShardSummary(
                new ExtractShard(o["index"]!.GetValue<int>(), o["count"]!.GetValue<int>()),
                o["inputs_hash"]!.GetValue<string>(), o["fingerprint"]!.GetValue<string>(), o["dimension"]!.GetValue<int>(),
                o["backbone"]!.GetValue<string>(), o["assigned"]!.GetValue<int>(), o["extracted"]!.GetValue<int>(),
                o["reused"]!.GetValue<int>(), o["embedded_by_others"]!.GetValue<int>(), o["waited_pieces"]!.GetValue<int>(),
                [.. o["quarantined"]!.AsArray().Select(q => new ShardQuarantine(q!["content_id"]!.GetValue<string>(), q["rel_path"]!.GetValue<string>(),
                    QuarantineKinds.FromColumn(q["kind"]!.GetValue<string>()) ?? throw new FormatException("unknown quarantine kind"),
                    q["reason"]!.GetValue<string>()))],
                o["decoded"]!.GetValue<long>(), o["seconds"]!.GetValue<double>(), o["images_per_second"]!.GetValue<double>(),
                o["host"]!.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or IOException)
        {
            return null;
        }
    }
}

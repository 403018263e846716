using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Hosting;

/// <summary>What one clean removed, and what it left in the workspace because the pipeline did not write it.</summary>
internal sealed record CleanResult(string Workspace, IReadOnlyList<string> Removed, IReadOnlyList<string> LeftAlone, string? KeptCache)
{
    public IEnumerable<string> Lines()
    {
        var kept = KeptCache is null ? "" : $"; kept the bottleneck cache {KeptCache}";
        yield return $"clean: removed {Removed.Count} pipeline file(s) from {Workspace}{kept}";
        if (LeftAlone.Count > 0)
            yield return $"  left alone (not written by the pipeline): {string.Join(", ", LeftAlone.Take(10))}" +
                         (LeftAlone.Count > 10 ? $" and {LeftAlone.Count - 10} more" : "");
    }
}

/// <summary>
/// `make clean`: removes from a workspace exactly the files the stages write there, named here one
/// by one (with the index's SQLite side files and the temporaries a killed writer leaves), never a
/// pattern over the folder. Anything else in it (a user's notes, the dataset, the config, should
/// they be there) is left as it is; so is the bottleneck cache, which is costly to rebuild and
/// never stale. It runs under the workspace lock, so it never cleans under a running stage, and
/// the lock it removes is its own.
/// </summary>
internal static class WorkspaceCleaner
{
    public static CleanResult Clean(PipelineConfig config, TimeSpan lockWait)
    {
        var workspace = config.Workspace;
        var keptCache = Directory.Exists(config.CacheDir) ? config.CacheDir : null;
        if (!Directory.Exists(workspace)) return new CleanResult(workspace, [], [], keptCache);

        var removed = new List<string>();
        var held = WorkspaceLock.Acquire(workspace, "clean", lockWait);
        try
        {
            WorkspaceOwner.Check(config); // again, under the lock: no other config's run can claim the workspace now
            var artifacts = ArtifactPaths.All(config);
            foreach (var path in artifacts)
                if (TryRemove(path)) removed.Add(path);
            // Temporaries of killed writers (ours: no stage runs while we hold the lock), beside each artifact and the lock's note.
            var names = artifacts.Select(Path.GetFileName).Concat(WorkspaceLock.FileNames).ToHashSet(StringComparer.Ordinal);
            var fineTune = ArtifactPaths.FineTuneDirectory(config);
            foreach (var dir in new[] { workspace, config.ReportsDir, fineTune }.Where(Directory.Exists))
                foreach (var file in Directory.EnumerateFiles(dir, ".*.tmp"))
                    if (names.Any(n => AtomicFile.TemporaryWriter(Path.GetFileName(file), n!) is not null) && TryRemove(file))
                        removed.Add(file);
            // reports/ and fine_tune/ are the pipeline's folders; each goes only when nothing of the user's is left in it.
            foreach (var dir in new[] { config.ReportsDir, fineTune })
                if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
                    Directory.Delete(dir);
            removed.AddRange(WorkspaceLock.FileNames.Select(n => Path.Combine(workspace, n)).Where(File.Exists));
            held.RemoveAndRelease();
        }
        finally { held.Dispose(); }

        return new CleanResult(workspace, removed, LeftAlone(workspace, config.ReportsDir, keptCache), keptCache);
    }

    /// <summary>What is still in the workspace and in reports/ (the cache aside), relative to the workspace; folders end in '/'.
    /// Not recursive: a user's folder is named, not walked.</summary>
    private static List<string> LeftAlone(string workspace, string reports, string? cache)
    {
        var left = new List<string>();
        foreach (var dir in new[] { workspace, reports }.Where(Directory.Exists))
            foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
            {
                if (cache is not null && RealPath.IsSameOrInside(entry.FullName, cache)) continue;
                if (entry.FullName == reports) continue; // listed through its entries
                var rel = Path.GetRelativePath(workspace, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
                left.Add(entry is DirectoryInfo ? rel + "/" : rel);
            }
        left.Sort(StringComparer.Ordinal);
        return left;
    }

    private static bool TryRemove(string path)
    {
        if (!File.Exists(path)) return false; // never a folder: a user's folder named like an artifact is not ours
        File.Delete(path);
        return true;
    }
}

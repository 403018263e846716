namespace BottleneckPipeline.Runtime;

/// <summary>
/// Writes an artifact to a temporary name beside it, flushes it to disk, renames it into place and
/// flushes the folder (so the rename itself survives power loss): a reader, or a run after kill -9
/// or a power cut, sees either the old file or the whole new one.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
            DirectorySync.Flush(dir);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
        RemoveStaleTemporaries(dir, Path.GetFileName(path));
    }

    /// <summary>
    /// A process killed mid-write (kill -9, power loss) leaves its temporary behind, named by its
    /// pid; the next write of the same artifact removes those whose process is gone, so a large
    /// half-written model does not stay on disk for good.
    /// </summary>
    private static void RemoveStaleTemporaries(string dir, string name)
    {
        foreach (var file in Directory.EnumerateFiles(dir, $".{name}.*.tmp"))
            if (TemporaryWriter(Path.GetFileName(file), name) is { } pid && !IsRunning(pid))
                TryDelete(file);
    }

    /// <summary>The pid of the writer whose temporary for <paramref name="artifactName"/> this file name is, or null when it is not one.</summary>
    public static int? TemporaryWriter(string fileName, string artifactName)
    {
        var prefix = $".{artifactName}.";
        if (!fileName.StartsWith(prefix, StringComparison.Ordinal) || !fileName.EndsWith(".tmp", StringComparison.Ordinal)
            || fileName.Length <= prefix.Length + 4)
            return null;
        var pidText = fileName[prefix.Length..^".tmp".Length];
        return int.TryParse(pidText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => { using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), leaveOpen: true); w.Write(text); });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    private static void TryDelete(string p)
    {
        try { File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

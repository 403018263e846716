using System.Diagnostics;
using System.Text.RegularExpressions;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// What survives a power cut cannot be shown by cutting power, so these tests watch the real stage
/// executables' system calls with strace (Debian's strace, part of this machine kind's tools): a
/// renamed artifact or a new cache segment is durable only once its folder has been fsynced after
/// the rename or creation, in the same thread.
/// </summary>
[Trait("Category", "Faults")]
public class PowerLossTests
{
    private static readonly string[] Traced = ["rename", "renameat", "renameat2", "fsync", "fdatasync"];

    /// <summary>Runs a stage under strace; returns each thread's traced calls, in order (-ff: one file per thread).</summary>
    private static List<string[]> RunTraced(string dir, string stage, string config)
    {
        var prefix = Path.Combine(dir, $"trace-{stage}");
        var psi = new ProcessStartInfo("strace") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        string[] arguments = ["-ff", "-qq", "-y", "-e", "trace=" + string.Join(',', Traced), "-o", prefix, StageProcess.Executable(stage), "--config", config];
        foreach (var a in arguments)
            psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException("these tests need strace (apt-get install strace)", e); }
        using (p)
        {
            var output = p.StandardOutput.ReadToEndAsync();
            var errors = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"{stage} under strace exited {p.ExitCode}:\n{output.Result}{errors.Result}");
        }
        return [.. Directory.GetFiles(dir, Path.GetFileName(prefix) + ".*").Select(File.ReadAllLines)];
    }

    /// <summary>Whether some thread made a call matching <paramref name="first"/> and later one matching <paramref name="then"/>.</summary>
    private static bool InOrder(List<string[]> threads, Regex first, Regex then) =>
        threads.Any(lines => Array.FindIndex(lines, first.IsMatch) is var i and >= 0 && lines.Skip(i + 1).Any(then.IsMatch));

    private static bool Any(List<string[]> threads, Regex call) => threads.Any(lines => lines.Any(call.IsMatch));

    // strace pads short calls with spaces before " = result".
    private static Regex FsyncOf(string path) => new($@"^f(data)?sync\(\d+<{Regex.Escape(path)}>\)\s+= 0");

    [Fact]
    public void Artifacts_and_cache_segments_have_their_folder_fsynced_after_the_rename_or_creation()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 1));
        var traces = Directory.CreateDirectory(t["traces"]).FullName;

        var ingest = RunTraced(traces, "Ingest", rig.ConfigPath);
        var report = Path.Combine(rig.ReportsDir, "ingest.json");
        var renamed = new Regex($@"^rename(at2?)?\(.*""{Regex.Escape(report)}"".*\)\s+= 0");
        Assert.True(Any(ingest, renamed), $"no rename into {report} was traced");
        Assert.True(InOrder(ingest, renamed, FsyncOf(rig.ReportsDir)), $"{rig.ReportsDir} was not fsynced after {report} was renamed into it");

        var extract = RunTraced(traces, "Extract", rig.ConfigPath);
        var folder = Path.Combine(rig.CacheDir, rig.Fingerprint);
        var segmentSynced = new Regex($@"^fsync\(\d+<{Regex.Escape(folder)}/seg-[^>]+\.bpv>\)\s+= 0");
        Assert.True(Any(extract, segmentSynced), $"no fsync of a segment in {folder} was traced");
        Assert.True(InOrder(extract, segmentSynced, FsyncOf(folder)), $"{folder} was not fsynced after its new segment's first commit");
        Assert.True(Any(extract, FsyncOf(rig.CacheDir)), $"{rig.CacheDir} was not fsynced after the new fingerprint folder was made");
    }
}

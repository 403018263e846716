using System.Diagnostics;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>A tmpfs of a given size (and optionally inode count), unmounted on dispose.</summary>
public sealed class SmallFileSystem : IDisposable
{
    public string Path { get; }

    private SmallFileSystem(string path) => Path = path;

    /// <param name="inodes">Files and folders it can hold (the root counts); unlimited-ish by default.</param>
    public static SmallFileSystem Mount(string path, int kilobytes, int? inodes = null)
    {
        Directory.CreateDirectory(path);
        var options = inodes is { } n ? $"size={kilobytes}k,nr_inodes={n}" : $"size={kilobytes}k";
        var (code, output) = Sh("mount", "-t", "tmpfs", "-o", options, "tmpfs", path);
        Assert.True(code == 0, $"cannot mount a tmpfs (the fault tests need root): {output}");
        return new SmallFileSystem(path);
    }

    public void Resize(int kilobytes)
    {
        var (code, output) = Sh("mount", "-o", $"remount,size={kilobytes}k", Path);
        Assert.True(code == 0, output);
    }

    /// <summary>Makes it read-only, as a disk mounted read-only (root's writes fail too, unlike mode bits).</summary>
    public void RemountReadOnly()
    {
        var (code, output) = Sh("mount", "-o", "remount,ro", Path);
        Assert.True(code == 0, output);
    }

    /// <summary>Creates empty files in the folder until no inode is left.</summary>
    public static void FillInodes(string folder)
    {
        for (var i = 0; ; i++)
        {
            try { File.Create(System.IO.Path.Combine(folder, $"inode-filler-{i}")).Dispose(); }
            catch (IOException) { return; }
        }
    }

    /// <summary>Writes a file until the file system is full.</summary>
    public void Fill(string file)
    {
        using var s = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        var block = new byte[4096];
        try
        {
            while (true) s.Write(block);
        }
        catch (IOException) { }
    }

    public void Dispose() => Sh("umount", "-l", Path);

    private static (int Code, string Output) Sh(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }
}

using System.Runtime.InteropServices;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Ingest;

/// <summary>
/// File and folder names are the user's data: a name holding terminal escape sequences is printed
/// escaped, and a name that is not valid UTF-8 (made here from raw bytes through libc, as a Linux file
/// system allows) is reported by its bytes with the right reason, never dropped or confused with
/// another. Through the built Ingest executable.
/// </summary>
public class FileNameTests
{
    [Fact]
    public void Printable_escapes_control_and_layout_characters_and_shows_bad_bytes_as_bytes()
    {
        Assert.Equal("a\\x1b]0;t\\x07b\\x0ac\\x7f\\x9b", Printable.Name("a\u001b]0;t\u0007b\nc\u007f\u009b"));
        Assert.Equal("x\\u202egpj.exe", Printable.Name("x\u202egpj.exe")); // a right-to-left override
        Assert.Equal("été 🌸 data/ok.jpg", Printable.Name("été 🌸 data/ok.jpg"));
        Assert.Equal("line one\nline \\x1b two", Printable.Text("line one\nline \u001b two"));
        Assert.Equal("bad\\xff\\xfe.jpg été", Printable.Bytes([.. "bad"u8, 0xff, 0xfe, .. ".jpg été"u8]));
        var once = Printable.Name("a\u001bb\tc");
        Assert.Equal(once, Printable.Name(once)); // idempotent: a line holding an escaped name passes unchanged
    }

    [Fact]
    public void Names_with_control_characters_are_printed_escaped_never_raw()
    {
        using var t = new TempDir();
        var data = t["data"];
        TestImages.Write(Path.Combine(data, "cats", "a.png"), 1);
        TestImages.Write(Path.Combine(data, "dogs", "b.png"), 2);
        // Not an image, so it is rejected and its name printed: set the terminal title, clear the screen, forge a line.
        File.WriteAllText(Path.Combine(data, "cats", "evil\u001b]0;pwned\u0007\u001b[2J\nrejected: nothing.jpg"), "not an image");
        Directory.CreateDirectory(Path.Combine(data, "empty\u001b[31m")); // a class folder with no image: named in a warning
        var rig = new FaultRig(t["rig"], data);

        var r = rig.RunOk("Ingest");
        Assert.DoesNotContain('\u001b', r.Output);
        Assert.DoesNotContain('\u0007', r.Output);
        Assert.Contains("  rejected cats/evil\\x1b]0;pwned\\x07\\x1b[2J\\x0arejected: nothing.jpg: not an image", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("class folder empty\\x1b[31m has no usable images", r.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain(r.StdOut.Split('\n'), l => l.StartsWith("rejected: nothing", StringComparison.Ordinal));
    }

    [Fact]
    public void Files_and_folders_whose_names_are_not_UTF8_are_rejected_by_their_bytes_with_that_reason()
    {
        using var t = new TempDir();
        var data = t["data"];
        var photo = TestImages.Write(Path.Combine(data, "cats", "a.png"), 1);
        TestImages.Write(Path.Combine(data, "dogs", "b.png"), 2);
        var cats = Path.Combine(data, "cats");
        // Two names .NET decodes to the same text (bad\uFFFD.png), and a folder holding an image.
        RawNames.CopyFile(photo, cats, RawNames.Parse(@"bad\xff.png"));
        RawNames.CopyFile(TestImages.Write(t["other.png"], 3), cats, RawNames.Parse(@"bad\xfe.png"));
        var sub = RawNames.MakeDirectory(cats, RawNames.Parse(@"sub\xff"));
        RawNames.CopyFile(TestImages.Write(t["third.png"], 4), sub, RawNames.Parse("c.png"));
        var rig = new FaultRig(t["rig"], data);

        var r = rig.RunOk("Ingest");
        Assert.Contains("ingest: 2 images in 2 classes", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("3 rejected", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("  rejected cats/bad\\xfe.png: unreadable: its name is not valid UTF-8", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("  rejected cats/bad\\xff.png: unreadable: its name is not valid UTF-8", r.StdOut, StringComparison.Ordinal);
        Assert.Contains("  rejected cats/sub\\xff: unreadable: the folder's name is not valid UTF-8", r.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("0 bytes", r.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain('\uFFFD', r.Output);
        Assert.Equal(["cats/bad\\xfe.png", "cats/bad\\xff.png", "cats/sub\\xff"], rig.Query("SELECT rel_path FROM rejects ORDER BY rel_path;"));
        Assert.Equal(["cats/a.png", "dogs/b.png"], rig.Query("SELECT rel_path FROM files ORDER BY rel_path;"));
    }

    [Fact]
    public void A_class_folder_whose_name_is_not_UTF8_stops_Ingest_naming_it_instead_of_dropping_the_class()
    {
        using var t = new TempDir();
        var data = t["data"];
        TestImages.Write(Path.Combine(data, "cats", "a.png"), 1);
        TestImages.Write(Path.Combine(data, "dogs", "b.png"), 2);
        // 40 images in it: dropped, the model would train on the two other classes without a word.
        var bad = RawNames.MakeDirectory(data, RawNames.Parse(@"cls\xff\xfe"));
        for (var i = 0; i < 40; i++) RawNames.CopyFile(TestImages.Write(t[$"p{i}.png"], 10 + i), bad, RawNames.Parse($"{i}.png"));
        var rig = new FaultRig(t["rig"], data);

        var r = rig.Run("Ingest");
        Assert.True(r.ExitCode == ExitCodes.BadInput, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.StartsWith("ingest: error: class folder cls\\xff\\xfe under dataset.root", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("not valid UTF-8", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("Rename it", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("broken link", r.Output, StringComparison.Ordinal);
        Assert.Empty(rig.Query("SELECT name FROM classes;"));
    }
}

/// <summary>Files and folders named by raw bytes (not necessarily UTF-8), made through libc.</summary>
internal static class RawNames
{
    /// <summary>Makes <paramref name="parent"/>/<paramref name="name"/>; returns a path .NET can use for
    /// nothing but passing back here (its name comes back decoded with U+FFFD).</summary>
    public static byte[] MakeDirectory(string parent, ReadOnlySpan<byte> name)
    {
        var path = Join(System.Text.Encoding.UTF8.GetBytes(parent), name);
        if (mkdir(Terminated(path), Convert.ToUInt32("755", 8)) != 0)
            throw new IOException($"mkdir failed: errno {Marshal.GetLastPInvokeError()}");
        return path;
    }

    public static void CopyFile(string source, string parent, ReadOnlySpan<byte> name) =>
        CopyFile(source, System.Text.Encoding.UTF8.GetBytes(parent), name);

    public static void CopyFile(string source, byte[] parent, ReadOnlySpan<byte> name)
    {
        var bytes = File.ReadAllBytes(source);
        var fd = open(Terminated(Join(parent, name)), 0x41 /* O_WRONLY | O_CREAT */, Convert.ToUInt32("644", 8));
        if (fd < 0) throw new IOException($"open failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (write(fd, bytes, bytes.Length) != bytes.Length) throw new IOException($"write failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally { _ = close(fd); }
    }

    /// <summary>A name's bytes from its escaped form: each \\xNN one byte, every other character ASCII.</summary>
    public static byte[] Parse(string escaped)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] == '\\' && i + 3 < escaped.Length && escaped[i + 1] == 'x')
            {
                bytes.Add(Convert.ToByte(escaped.Substring(i + 2, 2), 16));
                i += 3;
            }
            else bytes.Add(checked((byte)escaped[i]));
        }
        return [.. bytes];
    }

    private static byte[] Join(byte[] parent, ReadOnlySpan<byte> name) => [.. parent, (byte)'/', .. name];

    private static byte[] Terminated(byte[] path) => [.. path, 0];

    [DllImport("libc", SetLastError = true)]
    private static extern int mkdir(byte[] path, uint mode);

    [DllImport("libc", SetLastError = true)]
    private static extern int open(byte[] path, int flags, uint mode);

    [DllImport("libc", SetLastError = true)]
    private static extern nint write(int fd, byte[] buffer, nint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}

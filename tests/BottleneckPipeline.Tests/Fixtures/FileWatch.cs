using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>What happened to a watched file (Linux inotify event bits).</summary>
[Flags]
public enum FileEvent : uint
{
    Opened = 0x20,
    /// <summary>A descriptor opened for writing was closed (written to or not).</summary>
    ClosedAfterWrite = 0x08,
    /// <summary>A read-only descriptor was closed: how a failed read attempt ends.</summary>
    ClosedReadOnly = 0x10,
}

/// <summary>
/// Counts the opens and closes of one file by any thread or process, through Linux inotify. A test
/// uses it to wait for an event instead of a guessed duration: "the reader has tried the file and
/// failed", "the waiter has tried the lock". Events are counted from construction on.
/// </summary>
public sealed class FileWatch : IDisposable
{
    private const int NonBlocking = 0x800, CloseOnExec = 0x80000;
    private readonly int _fd;
    private readonly Dictionary<FileEvent, int> _counts = [];
    private readonly byte[] _buffer = new byte[4096];

    public FileWatch(string path)
    {
        _fd = inotify_init1(NonBlocking | CloseOnExec);
        if (_fd < 0) throw new IOException($"inotify_init1 failed: errno {Marshal.GetLastPInvokeError()}");
        var mask = (uint)(FileEvent.Opened | FileEvent.ClosedAfterWrite | FileEvent.ClosedReadOnly);
        if (inotify_add_watch(_fd, path, mask) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            close(_fd);
            throw new IOException($"cannot watch {path}: errno {errno}");
        }
    }

    /// <summary>How many times the event has happened so far.</summary>
    public int Count(FileEvent e)
    {
        Drain();
        return _counts.GetValueOrDefault(e);
    }

    /// <summary>Waits until the condition holds; fails the test after the timeout, saying what it waited for.</summary>
    public void WaitUntil(Func<FileWatch, bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(2));
        while (!condition(this))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited in vain for {what}");
            Thread.Sleep(5);
        }
    }

    private void Drain()
    {
        while (true)
        {
            var n = (int)read(_fd, _buffer, _buffer.Length);
            if (n <= 0) return; // EAGAIN: nothing more for now
            // struct inotify_event { int wd; uint32 mask; uint32 cookie; uint32 len; char name[len]; }
            for (var at = 0; at + 16 <= n;)
            {
                var mask = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(at + 4));
                foreach (var e in new[] { FileEvent.Opened, FileEvent.ClosedAfterWrite, FileEvent.ClosedReadOnly })
                    if ((mask & (uint)e) != 0) _counts[e] = _counts.GetValueOrDefault(e) + 1;
                at += 16 + (int)BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(at + 12));
            }
        }
    }

    public void Dispose() => close(_fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int inotify_init1(int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int inotify_add_watch(int fd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mask);

    [DllImport("libc", SetLastError = true)]
    private static extern nint read(int fd, byte[] buffer, nint count);

    [DllImport("libc")]
    private static extern int close(int fd);
}
